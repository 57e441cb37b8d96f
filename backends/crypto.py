"""国密 primitives for data at rest: SM4-GCM field encryption, HMAC-SM3 blind indexes and audit chain, SM3 digests.

All symmetric algorithms run in OpenSSL through pyca ``cryptography`` (pure-Python ``gmssl`` is ~700x
slower and is only used in tests to cross-check digests). pyca ``cryptography`` has no SM2, so the
audit anchors' SM2 signatures live in :mod:`backends.signing` (gmssl).

Keys live in a :class:`KeyRing`: several SM4 data keys, each with an id stored next to every
ciphertext so the active key can rotate while old rows stay readable, plus one key for blind
indexes, one for signing API tokens and one keying the audit chain. The key ring is a JSON document
read from a key file (created with mode 0600 on first start, refused when group or others may read
it) or handed in as a string (e.g. from an environment variable).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from backends.interfaces import TamperedDataError

SM4_KEY_BYTES = 16
GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16
PLAINTEXT_KEY_ID = "none"
"""Key id of rows written by :class:`PlaintextCodec` (benchmark baseline only)."""
AUDIT_KEY_LABEL = b"medvoice/audit-chain/v1"
"""Derivation label of the audit-chain key for key rings written before it had its own entry."""


def sm3(data: bytes) -> bytes:
    """SM3 digest (32 bytes) of ``data``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """Keyed HMAC-SM3 (32 bytes) of ``data``."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def sm4_gcm_encrypt(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt with SM4-GCM; returns ``nonce || ciphertext || tag``."""
    nonce = os.urandom(GCM_NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated_data)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def sm4_gcm_decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Decrypt ``nonce || ciphertext || tag``; raises :class:`TamperedDataError` if the tag fails."""
    if len(blob) < GCM_NONCE_BYTES + GCM_TAG_BYTES:
        raise TamperedDataError(f"ciphertext is {len(blob)} bytes, shorter than nonce + tag")
    nonce, body, tag = blob[:GCM_NONCE_BYTES], blob[GCM_NONCE_BYTES:-GCM_TAG_BYTES], blob[-GCM_TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(associated_data)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag as error:
        raise TamperedDataError(
            "SM4-GCM authentication failed: the ciphertext, its key id or its row binding was modified"
        ) from error


class KeyFileError(ValueError):
    """A key file that must not be used as it is (readable by group or others)."""


def check_private_file(path: Path) -> None:
    """Refuse a secret file that anyone but its owner may read, write or execute.

    Raises:
        KeyFileError: the file's mode grants group or other users any access.
    """
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"key file {path} has mode {mode:04o}: group or other users can access it, so its keys must be "
            f"treated as exposed. Refusing to use it; run `chmod 600 {path}` (and rotate the keys if "
            "someone else may have read it)"
        )


def read_private_file(path: Path) -> str:
    """The text of a secret file, after :func:`check_private_file`."""
    check_private_file(path)
    return path.read_text(encoding="utf-8")


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` atomically to ``path`` with mode 0600 (whatever the umask or a stale temporary)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # O_CREAT's mode does not apply to a temporary left over by an earlier crash: set it explicitly.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@dataclass(frozen=True)
class KeyRing:
    """SM4 data keys by id, the active id, and the blind-index and token-signing keys.

    Parameters:
        data_keys: Key id -> 16-byte SM4 key. Old ids stay so old rows remain readable.
        active_key_id: The id new ciphertexts are written with.
        index_key: HMAC-SM3 key for blind indexes (not rotated: rotating it means re-indexing).
        token_key: HMAC-SM3 key signing API tokens.
        audit_key: HMAC-SM3 key of the audit chain. Empty (a key ring written before the chain was
            keyed): derived from ``index_key``, so such a ring keeps one stable audit key.
    """

    data_keys: dict[str, bytes]
    active_key_id: str
    index_key: bytes
    token_key: bytes = field(repr=False)
    audit_key: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not self.audit_key:
            derived = hmac_sm3(self.index_key, AUDIT_KEY_LABEL)
            object.__setattr__(self, "audit_key", derived)
        if self.active_key_id not in self.data_keys:
            raise ValueError(
                f"active key id {self.active_key_id!r} is not among the data keys {sorted(self.data_keys)}; "
                "fix the key file's 'active' entry"
            )
        for key_id, key in self.data_keys.items():
            if len(key) != SM4_KEY_BYTES:
                raise ValueError(f"SM4 key {key_id!r} is {len(key)} bytes, expected {SM4_KEY_BYTES}")
            if key_id == PLAINTEXT_KEY_ID:
                raise ValueError(f"key id {PLAINTEXT_KEY_ID!r} is reserved; rename that key")
        if len(self.index_key) < 16 or len(self.token_key) < 16 or len(self.audit_key) < 16:
            raise ValueError("index, token and audit keys must be at least 16 bytes")

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={sorted(self.data_keys)}, active={self.active_key_id!r})"

    @classmethod
    def generate(cls) -> KeyRing:
        """A fresh key ring with one data key ``k1``."""
        return cls(
            data_keys={"k1": secrets.token_bytes(SM4_KEY_BYTES)},
            active_key_id="k1",
            index_key=secrets.token_bytes(32),
            token_key=secrets.token_bytes(32),
            audit_key=secrets.token_bytes(32),
        )

    @property
    def audit_key_id(self) -> str:
        """A short public fingerprint of the audit key (names which key a chain was verified with)."""
        return sm3(b"medvoice-audit-key-id|" + self.audit_key).hex()[:16]

    def rotated(self) -> KeyRing:
        """A copy with a new active data key ``k<n+1>``; old keys are kept for reading."""
        number = 1 + max((int(k[1:]) for k in self.data_keys if k[1:].isdigit()), default=0)
        new_id = f"k{number}"
        return KeyRing(
            data_keys={**self.data_keys, new_id: secrets.token_bytes(SM4_KEY_BYTES)},
            active_key_id=new_id,
            index_key=self.index_key,
            token_key=self.token_key,
            audit_key=self.audit_key,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active_key_id,
                "data_keys": {k: v.hex() for k, v in self.data_keys.items()},
                "index_key": self.index_key.hex(),
                "token_key": self.token_key.hex(),
                "audit_key": self.audit_key.hex(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, source: str = "key ring") -> KeyRing:
        """Parse a key ring document; errors name the source and the missing or bad entry."""
        try:
            doc = json.loads(text)
            return cls(
                data_keys={k: bytes.fromhex(v) for k, v in doc["data_keys"].items()},
                active_key_id=doc["active"],
                index_key=bytes.fromhex(doc["index_key"]),
                token_key=bytes.fromhex(doc["token_key"]),
                audit_key=bytes.fromhex(doc.get("audit_key", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(
                f"{source} is not a valid medvoice key ring ({error!r}); expected JSON with "
                "'active', 'data_keys' {id: hex}, 'index_key', 'token_key' (and 'audit_key')"
            ) from error

    @classmethod
    def load_or_create(cls, path: Path) -> KeyRing:
        """Read the key file, or create it (mode 0600) with fresh keys if it does not exist.

        Raises:
            KeyFileError: the file exists but group or other users may access it.
        """
        if path.exists():
            return cls.from_json(read_private_file(path), source=str(path))
        ring = cls.generate()
        ring.save(path)
        return ring

    def save(self, path: Path) -> None:
        """Write the key file atomically with mode 0600."""
        write_private_file(path, self.to_json())


class FieldCodec(Protocol):
    """Turns a plaintext field into a stored blob bound to its row, and back."""

    def seal(self, plaintext: bytes, binding: bytes) -> tuple[str, bytes]:
        """Returns ``(key_id, blob)``."""
        ...

    def open(self, key_id: str, blob: bytes, binding: bytes) -> bytes: ...

    def blind_index(self, kind: str, value: str) -> str: ...


class Sm4GcmCodec:
    """SM4-GCM with the row binding (table, id, hospital) as associated data.

    Binding the ciphertext to its row means a blob copied into another row (or another hospital)
    fails authentication instead of decrypting as someone else's record.

    Args:
        ring: The key ring.
        reload: Re-reads the key ring (from its file). Called once when a row names a key id the
            ring lacks: ``medvoice keys rotate`` run beside a live service re-seals rows under a key
            this process has not seen yet; after the reload it also writes with the new active key.
    """

    def __init__(self, ring: KeyRing, reload: Callable[[], KeyRing] | None = None) -> None:
        self.ring = ring
        self._reload = reload

    def seal(self, plaintext: bytes, binding: bytes) -> tuple[str, bytes]:
        key_id = self.ring.active_key_id
        return key_id, sm4_gcm_encrypt(self.ring.data_keys[key_id], plaintext, binding)

    def open(self, key_id: str, blob: bytes, binding: bytes) -> bytes:
        key = self.ring.data_keys.get(key_id)
        if key is None and self._reload is not None:
            self.ring = self._reload()
            key = self.ring.data_keys.get(key_id)
        if key is None:
            raise TamperedDataError(
                f"row is sealed with key id {key_id!r}, which is not in the key ring "
                f"{sorted(self.ring.data_keys)}; restore that key to the key file"
            )
        return sm4_gcm_decrypt(key, blob, binding)

    def blind_index(self, kind: str, value: str) -> str:
        return hmac_sm3(self.ring.index_key, f"{kind}\x1f{value}".encode()).hex()


class PlaintextCodec:
    """Stores fields unencrypted: ONLY the benchmark's no-encryption baseline uses it.

    Blind indexes are still keyed so the search path is identical; only SM4 is skipped.
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def seal(self, plaintext: bytes, binding: bytes) -> tuple[str, bytes]:
        return PLAINTEXT_KEY_ID, plaintext

    def open(self, key_id: str, blob: bytes, binding: bytes) -> bytes:
        if key_id != PLAINTEXT_KEY_ID:
            raise TamperedDataError(f"row has key id {key_id!r} but this store was opened without encryption")
        return blob

    def blind_index(self, kind: str, value: str) -> str:
        return hmac_sm3(self.ring.index_key, f"{kind}\x1f{value}".encode()).hex()
