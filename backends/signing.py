"""SM2 signatures (GB/T 32918, SM3withSM2) for audit anchors, and the SM2 key file.

pyca ``cryptography`` has no SM2, so the curve arithmetic is gmssl's (pure Python, a few ms per
signature: anchors are signed rarely). Two of gmssl's defaults are unsafe and are not used here:
its signing nonce comes from :mod:`random` (predictable: a known nonce reveals the private key), so
:func:`sign` draws it from :mod:`secrets`; and its constructor strips every leading ``0``/``4``
character of a public key starting ``04`` (``str.lstrip``), corrupting about one key in 128, so the
key is set after construction.

The key file is JSON ``{"private": hex, "public": hex}`` (mode 0600, refused when group or others can
read it); ``<name>.pub`` beside it holds only the public key, for whoever verifies anchors.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from gmssl import sm2

from backends.crypto import read_private_file, sm3, write_private_file

__all__ = ["Sm2KeyPair", "Sm2PublicKey", "load_public_key", "public_key_path"]

CURVE_ORDER = int(sm2.default_ecc_table["n"], 16)
SIGNATURE_HEX = 128
DEFAULT_ID = b"1234567812345678"
"""The signer identity GB/T 32918 and OpenSSL use by default (``distid``)."""


def sm2_digest(public_hex: str, message: bytes) -> bytes:
    """``e = SM3(Z_A || M)`` with ``Z_A = SM3(ENTL || ID || a || b || x_G || y_G || x_A || y_A)``.

    Computed with OpenSSL's SM3 (gmssl's pure-Python SM3 was a quarter of each verification).
    """
    table = sm2.default_ecc_table
    z = sm3(
        (len(DEFAULT_ID) * 8).to_bytes(2, "big")
        + DEFAULT_ID
        + bytes.fromhex(table["a"] + table["b"] + table["g"] + public_hex)
    )
    return sm3(z + message)


def _crypt(private_hex: str, public_hex: str) -> sm2.CryptSM2:
    crypt = sm2.CryptSM2(private_key=private_hex, public_key="")
    crypt.public_key = public_hex  # see the module docstring: gmssl's own parsing can corrupt it
    return crypt


@dataclass(frozen=True)
class Sm2PublicKey:
    """An SM2 public key: ``x || y`` as 128 hex digits."""

    public_hex: str

    def __post_init__(self) -> None:
        if len(self.public_hex) != 128 or any(c not in "0123456789abcdef" for c in self.public_hex):
            raise ValueError("an SM2 public key is 128 lowercase hex digits (x || y, no 04 prefix)")

    @property
    def fingerprint(self) -> str:
        """SM3 of the public key, 16 hex digits: names the key an anchor was signed with."""
        return sm3(bytes.fromhex(self.public_hex)).hex()[:16]

    def verify(self, signature_hex: str, message: bytes) -> bool:
        """True when ``signature_hex`` (r || s, 128 hex digits) is this key's SM3withSM2 signature."""
        if len(signature_hex) != SIGNATURE_HEX:
            return False
        try:
            r, s = int(signature_hex[:64], 16), int(signature_hex[64:], 16)
        except ValueError:
            return False
        if not (0 < r < CURVE_ORDER and 0 < s < CURVE_ORDER):
            return False
        return _verified(self.public_hex, signature_hex.lower(), message)


@lru_cache(maxsize=4096)
def _verified(public_hex: str, signature_hex: str, message: bytes) -> bool:
    """Verification is a pure function of its inputs (and ~35 ms in pure Python): each anchor is
    verified once per process however many times a file is checked."""
    return bool(_crypt("", public_hex).verify(signature_hex, sm2_digest(public_hex, message)))


@dataclass(frozen=True)
class Sm2KeyPair:
    """An SM2 private key and its public key."""

    private_hex: str = field(repr=False)
    public: Sm2PublicKey

    @classmethod
    def generate(cls) -> Sm2KeyPair:
        d = 1 + secrets.randbelow(CURVE_ORDER - 2)
        private_hex = f"{d:064x}"
        public_hex = _crypt(private_hex, "")._kg(d, sm2.default_ecc_table["g"])
        return cls(private_hex, Sm2PublicKey(public_hex.lower()))

    def sign(self, message: bytes) -> str:
        """SM3withSM2 signature of ``message`` (r || s, 128 hex digits), with a fresh secret nonce."""
        crypt = _crypt(self.private_hex, self.public.public_hex)
        while True:
            k = f"{1 + secrets.randbelow(CURVE_ORDER - 1):064x}"
            signature = crypt.sign(sm2_digest(self.public.public_hex, message), k)
            if signature:  # None for the negligible r = 0, r + k = n or s = 0 cases: draw again
                return str(signature)

    def to_json(self) -> str:
        return json.dumps({"private": self.private_hex, "public": self.public.public_hex}, indent=2)

    @classmethod
    def load_or_create(cls, path: Path) -> Sm2KeyPair:
        """Read the SM2 key file, or create it (mode 0600) and its ``.pub`` beside it.

        Raises:
            KeyFileError: group or other users can access the file.
            ValueError: the file is not an SM2 key pair, or its public key does not match the private one.
        """
        if not path.exists():
            pair = cls.generate()
            write_private_file(path, pair.to_json())
            public_key_path(path).write_text(json.dumps({"public": pair.public.public_hex}) + "\n", encoding="utf-8")
            return pair
        text = read_private_file(path)
        try:
            doc = json.loads(text)
            pair = cls(doc["private"], Sm2PublicKey(doc["public"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path} is not a medvoice SM2 key file ({error!r})") from error
        if not pair.public.verify(pair.sign(b"medvoice-key-check"), b"medvoice-key-check"):
            raise ValueError(f"{path}: the public key does not belong to the private key")
        return pair


def public_key_path(key_path: Path) -> Path:
    """Where the public half of the SM2 key file ``key_path`` is written."""
    return key_path.with_name(key_path.name + ".pub")


def load_public_key(path: Path) -> Sm2PublicKey:
    """The public key from an SM2 key file or its ``.pub`` (only the ``public`` entry is read).

    Raises:
        ValueError: the file does not exist or has no valid ``public`` entry.
    """
    if not path.is_file():
        raise ValueError(f"SM2 key file {path} does not exist; `medvoice audit anchor` creates it")
    try:
        return Sm2PublicKey(json.loads(path.read_text(encoding="utf-8"))["public"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} holds no SM2 public key ({error!r})") from error
