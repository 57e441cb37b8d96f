"""Telephone codecs for the speech benchmarks: what a phone line does to the caller's 16 kHz words.

Real codecs, through ffmpeg (a Debian package the Makefile installs): G.711 A-law (``pcma``, what
Chinese carriers and PBXs use) and mu-law (``pcmu``) at 8 kHz, and G.722 (``g722``, wideband,
16 kHz). The 16 -> 8 kHz step before G.711 is the caller side (the handset's or gateway's
anti-aliasing filter, a polyphase low-pass here); what happens on the way back up to 16 kHz is
the receiver's business (``asr.narrowband``). ``evals.conditions`` keeps its numpy approximation
of A-law (the continuous law) for the other benchmarks; this module is the exact codec.

Nothing here is used to train anything: it is for measuring.
"""

from __future__ import annotations

import subprocess

import numpy as np
from scipy.signal import resample_poly

__all__ = ["CODECS", "PhoneCodec", "round_trip"]

SAMPLE_RATE = 16000


class PhoneCodec:
    """One telephone codec: its ffmpeg encoder and raw format, and the rate it runs at."""

    def __init__(self, name: str, encoder: str, raw_format: str, rate: int) -> None:
        self.name = name
        self.encoder = encoder
        self.raw_format = raw_format
        self.rate = rate

    @property
    def narrowband(self) -> bool:
        return self.rate < SAMPLE_RATE


CODECS: dict[str, PhoneCodec] = {
    c.name: c
    for c in (
        PhoneCodec("pcma", "pcm_alaw", "alaw", 8000),
        PhoneCodec("pcmu", "pcm_mulaw", "mulaw", 8000),
        PhoneCodec("g722", "g722", "g722", 16000),
    )
}


def round_trip(audio: np.ndarray, codec: str) -> tuple[np.ndarray, int]:
    """``audio`` (float32, 16 kHz) encoded and decoded by ``codec``: (float32 samples, their rate).

    A narrowband codec returns 8 kHz samples, as a SIP endpoint decodes them.

    Raises:
        ValueError: an unknown codec (the message lists the known ones).
        RuntimeError: ffmpeg failed (its message is included).
    """
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; use one of {', '.join(CODECS)}")
    spec = CODECS[codec]
    samples = np.asarray(audio, np.float32)
    if spec.rate != SAMPLE_RATE:
        samples = resample_poly(samples, spec.rate, SAMPLE_RATE).astype(np.float32)
    samples = np.clip(samples, -1.0, 1.0)
    encoded = _ffmpeg(["-f", "f32le", "-ar", str(spec.rate), "-ac", "1", "-i", "pipe:0",
                       "-c:a", spec.encoder, "-f", spec.raw_format, "pipe:1"], samples.tobytes())
    # The g722 demuxer knows its rate; the G.711 ones must be told.
    rate = [] if spec.raw_format == "g722" else ["-ar", str(spec.rate)]
    decoded = _ffmpeg(["-f", spec.raw_format, *rate, "-ac", "1", "-i", "pipe:0",
                       "-f", "f32le", "-ar", str(spec.rate), "pipe:1"], encoded)
    return np.frombuffer(decoded, np.float32).copy(), spec.rate


def _ffmpeg(arguments: list[str], data: bytes) -> bytes:
    result = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", *arguments], input=data,
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(arguments)} failed: {result.stderr.decode(errors='replace')[-400:]}")
    return result.stdout
