"""Signed bearer tokens for the records API: a Principal plus an expiry, signed with HMAC-SM3.

Format: ``mvt1.<base64url(JSON claims)>.<base64url(HMAC-SM3(key, "mvt1." + claims))>``.
The signing key is the key ring's ``token_key``; tokens never carry patient data.
"""

from __future__ import annotations

import base64
import hmac as std_hmac
import json
import time
from collections.abc import Callable

from backends.crypto import hmac_sm3
from backends.interfaces import Principal

PREFIX = "mvt1"


class TokenError(Exception):
    """The token is malformed, badly signed or expired; the message says which."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens with one key; ``clock`` is injectable for expiry tests."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    def issue(self, principal: Principal, ttl_s: float = 3600.0) -> str:
        claims = {
            "sub": principal.subject,
            "role": principal.role,
            "hos": principal.hospital_id,
            "dep": principal.department_id,
            "pur": principal.purpose,
            "exp": int(self._clock() + ttl_s),
        }
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac_sm3(self._key, f"{PREFIX}.{body}".encode()))
        return f"{PREFIX}.{body}.{signature}"

    def verify(self, token: str) -> Principal:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise TokenError(f"token is not a {PREFIX} token (expected three dot-separated parts)")
        expected = hmac_sm3(self._key, f"{PREFIX}.{parts[1]}".encode())
        try:
            signature = _unb64(parts[2])
        except ValueError as error:
            raise TokenError("token signature is not valid base64url") from error
        if not std_hmac.compare_digest(signature, expected):
            raise TokenError("token signature does not verify (forged, altered or signed with another key)")
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError as error:
            raise TokenError("token claims are not valid base64url JSON") from error
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise TokenError("token claims are malformed")
        if claims["exp"] <= self._clock():
            raise TokenError("token has expired; request a new one")
        try:
            return Principal(
                subject=str(claims["sub"]),
                role=str(claims["role"]),
                hospital_id=str(claims["hos"]),
                department_id=claims.get("dep"),
                purpose=str(claims.get("pur") or "treatment"),
            )
        except KeyError as error:
            raise TokenError(f"token lacks the {error} claim") from error
