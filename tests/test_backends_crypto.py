"""国密 primitives: SM3/HMAC-SM3/SM4 cross-checked against pure-Python gmssl, key ring, tokens."""

from __future__ import annotations

import base64
import json
import stat

import pytest
from gmssl import func
from gmssl import sm3 as gm_sm3
from gmssl import sm4 as gm_sm4

from backends.crypto import (
    KeyRing,
    PlaintextCodec,
    Sm4GcmCodec,
    hmac_sm3,
    sm3,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from backends.interfaces import Principal, TamperedDataError
from backends.tokens import TokenError, TokenSigner


def gmssl_sm3(data: bytes) -> bytes:
    return bytes.fromhex(gm_sm3.sm3_hash(func.bytes_to_list(data)))


def gmssl_hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) built on gmssl's SM3, block size 64."""
    key = key.ljust(64, b"\0")
    inner = gmssl_sm3(bytes(k ^ 0x36 for k in key) + data)
    return gmssl_sm3(bytes(k ^ 0x5C for k in key) + inner)


def test_sm3_matches_the_standard_vector_and_gmssl() -> None:
    # GB/T 32905-2016 Appendix A example 1.
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    for message in (b"", b"abc" * 100, "张三 高血压 160/95".encode()):
        assert sm3(message) == gmssl_sm3(message)


def test_hmac_sm3_matches_gmssl() -> None:
    key = bytes(range(32))
    for message in (b"", b"identifier\x1furn:cn:id|110101199001011234"):
        assert hmac_sm3(key, message) == gmssl_hmac_sm3(key, message)


def test_sm4_gcm_keystream_matches_gmssl_block_cipher() -> None:
    """GCM encrypts block 1 with E(K, nonce || 0x00000002): check that block against gmssl's SM4."""
    key = bytes(range(16))
    plaintext = b"0123456789abcdef"
    blob = sm4_gcm_encrypt(key, plaintext, b"aad")
    nonce, first_block = blob[:12], blob[12:28]
    cipher = gm_sm4.CryptSM4()
    cipher.set_key(key, gm_sm4.SM4_ENCRYPT)
    keystream = cipher.crypt_ecb(nonce + b"\x00\x00\x00\x02")[:16]
    assert bytes(a ^ b for a, b in zip(plaintext, keystream, strict=True)) == first_block


def test_sm4_gcm_round_trip_and_every_tamper_is_detected() -> None:
    key = bytes(16)
    blob = sm4_gcm_encrypt(key, "血压 160/95".encode(), b"row-1")
    assert sm4_gcm_decrypt(key, blob, b"row-1").decode() == "血压 160/95"
    flipped = bytearray(blob)
    flipped[15] ^= 1
    with pytest.raises(TamperedDataError, match="authentication failed"):
        sm4_gcm_decrypt(key, bytes(flipped), b"row-1")
    with pytest.raises(TamperedDataError):
        sm4_gcm_decrypt(key, blob, b"row-2")  # copied into another row
    with pytest.raises(TamperedDataError, match="shorter"):
        sm4_gcm_decrypt(key, blob[:20], b"row-1")
    assert sm4_gcm_encrypt(key, b"same", b"") != sm4_gcm_encrypt(key, b"same", b"")  # fresh nonce


def test_key_file_created_private_and_rotation_keeps_old_keys(tmp_path) -> None:
    path = tmp_path / "keys" / "keys.json"
    ring = KeyRing.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyRing.load_or_create(path) == ring
    old = Sm4GcmCodec(ring)
    key_id, blob = old.seal(b"secret", b"b")
    rotated = ring.rotated()
    assert rotated.active_key_id == "k2" and set(rotated.data_keys) == {"k1", "k2"}
    new = Sm4GcmCodec(rotated)
    assert new.open(key_id, blob, b"b") == b"secret"
    assert new.seal(b"x", b"b")[0] == "k2"
    assert new.blind_index("phone", "138") == old.blind_index("phone", "138")
    with pytest.raises(TamperedDataError, match="'k9'"):
        new.open("k9", blob, b"b")


def test_key_ring_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a valid medvoice key ring"):
        KeyRing.from_json("{}", source="env")
    doc = json.loads(KeyRing.generate().to_json())
    doc["active"] = "k7"
    with pytest.raises(ValueError, match="'k7' is not among"):
        KeyRing.from_json(json.dumps(doc))
    doc["active"], doc["data_keys"]["k1"] = "k1", "00"
    with pytest.raises(ValueError, match="1 bytes, expected 16"):
        KeyRing.from_json(json.dumps(doc))
    ring = KeyRing.generate()
    assert ring.token_key.hex() not in repr(ring) and ring.data_keys["k1"].hex() not in repr(ring)


def test_plaintext_codec_refuses_encrypted_rows_and_vice_versa() -> None:
    ring = KeyRing.generate()
    key_id, blob = Sm4GcmCodec(ring).seal(b"x", b"b")
    with pytest.raises(TamperedDataError, match="without encryption"):
        PlaintextCodec(ring).open(key_id, blob, b"b")
    with pytest.raises(TamperedDataError):
        Sm4GcmCodec(ring).open(*PlaintextCodec(ring).seal(b"x", b"b"), b"b")


def test_tokens_round_trip_and_reject_forgery_expiry_and_garbage() -> None:
    now = [1000.0]
    signer = TokenSigner(b"k" * 32, clock=lambda: now[0])
    doctor = Principal("dr-li", "doctor", "demo-hospital", "dept-cardiology", "treatment")
    token = signer.issue(doctor, ttl_s=60)
    assert signer.verify(token) == doctor
    prefix, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["role"] = "hospital_admin"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        signer.verify(f"{prefix}.{forged_body}.{signature}")
    with pytest.raises(TokenError, match="signature"):
        TokenSigner(b"x" * 32, clock=lambda: now[0]).verify(token)
    with pytest.raises(TokenError, match="three"):
        signer.verify("Bearer nonsense")
    now[0] += 61
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token)
