"""Codecs and audio frames of the SIP path.

* Codec preference: PCMA (A-law, what Chinese carriers and PBXs use) > PCMU > G.722; every other
  codec PJSIP ships (speex, iLBC, GSM, L16) is disabled, so an INVITE offering none of the three
  gets PJSIP's 488 Not Acceptable Here. PJMEDIA answers in the offerer's codec order (a build
  option, ``PJMEDIA_SDP_NEG_PREFER_REMOTE_CODEC_ORDER``, that the wheel does not expose, and the
  answer SDP is made before PJSUA2 hands the call to Python), so when a phone offers PCMU before
  PCMA the call re-offers once it is confirmed, in our order (``CallLeg``).
* Resampling: the pipeline speaks 16 kHz; PCMA/PCMU streams run at 8 kHz. PJMEDIA's conference
  bridge (clock ``BRIDGE_CLOCK_RATE``) converts each port with its own stateful resampler, so 20 ms
  frames join without clicks (tests/test_sip_audio.py checks a tone through a PCMA call).
* Frame bytes: a PJSUA2 ``MediaFrame.buf`` is a SWIG ``std::vector<unsigned char>``; turning it into
  ``bytes`` element by element costs ~600 us per 20 ms frame under the GIL, on PJSIP's clock thread.
  ``frame_bytes`` reads the vector's storage directly (~3 us), checked once against the slow path.
"""

from __future__ import annotations

import ctypes
from typing import Any

CODEC_PRIORITY: tuple[tuple[str, int], ...] = (("PCMA/8000", 255), ("PCMU/8000", 254), ("G722/16000", 253))
"""PJSIP codec ids in order of preference, with their priority (0 disables a codec)."""

BRIDGE_CLOCK_RATE = 16000
FRAME_MS = 20
SAMPLES_PER_FRAME = BRIDGE_CLOCK_RATE * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * 2  # 16-bit mono
SILENCE = bytes(FRAME_BYTES)

_fast_path: bool | None = None


def set_codec_priorities(endpoint: Any) -> list[str]:
    """Enable PCMA, PCMU and G.722 in that order and disable the rest; returns the enabled ids."""
    enabled = []
    wanted = dict(CODEC_PRIORITY)
    for info in endpoint.codecEnum2():
        codec_id = info.codecId
        base = codec_id.rsplit("/", 1)[0] if codec_id.count("/") == 2 else codec_id
        priority = wanted.get(base, 0)
        endpoint.codecSetPriority(codec_id, priority)
        if priority:
            enabled.append(base)
    return sorted(enabled, key=lambda c: -wanted[c])


def _vector_bytes(vector: Any) -> bytes:
    # libstdc++ lays a std::vector out as (begin, end, end_of_storage) pointers.
    begin, end = ctypes.cast(int(vector.this), ctypes.POINTER(ctypes.c_void_p * 2)).contents
    size = int(vector.size())
    if begin is None or end is None or end - begin != size:
        raise ValueError("unexpected std::vector layout")
    return ctypes.string_at(begin, size)


def frame_bytes(vector: Any) -> bytes:
    """The bytes of a PJSUA2 ``ByteVector`` (a ``MediaFrame.buf``)."""
    global _fast_path
    if _fast_path is None:
        _fast_path = _check_fast_path(type(vector))
    if _fast_path and vector.size():
        return _vector_bytes(vector)
    return bytes(vector)


def _check_fast_path(vector_type: Any) -> bool:
    probe = bytes(range(256)) * 3
    try:
        return _vector_bytes(vector_type(probe)) == probe
    except Exception:
        return False



_STATIC_PT = {"0": "PCMU", "8": "PCMA", "9": "G722"}
_PREFERENCE = [codec.split("/")[0] for codec, _ in CODEC_PRIORITY]


def preferred_codec(offer: str) -> str | None:
    """The codec of an SDP offer (or a whole INVITE) that medvoice prefers: PCMA > PCMU > G.722."""
    lines = [line.strip() for line in offer.splitlines()]
    media = next((line for line in lines if line.startswith("m=audio ")), None)
    if media is None:
        return None
    names = dict(_STATIC_PT)
    for line in lines:
        if line.startswith("a=rtpmap:"):
            pt, _, encoding = line[len("a=rtpmap:"):].partition(" ")
            names[pt] = encoding.split("/")[0]
    offered = {names.get(pt, "") for pt in media.split()[3:]}
    return next((codec for codec in _PREFERENCE if codec in offered), None)
