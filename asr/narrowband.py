"""Telephone audio for the recogniser: narrowband speech (8 kHz G.711) brought to Whisper's 16 kHz.

A PCMA/PCMU call carries nothing above 4 kHz, and Whisper's log-mel reaches 8 kHz: a quarter of its
80 mel bands hold the fricatives that tell 血 from 切 and 心 from 轻, and on a phone line they are
empty. ``widen`` is the one way the recogniser takes narrowband audio: 8 kHz samples are upsampled
by a polyphase low-pass (``resample_poly``: the 0-4 kHz band kept, no images above it); 16 kHz
audio is taken as it is (a SIP call's PCMA, upsampled by PJMEDIA's conference bridge with its own
interpolating filter; that filter's effect on recognition was not measured).

What was measured, all on the same PCMA audio of the dev set, short-window decoder + term
correction (``evals/asr/README.md``, phone path, has the table): the filter matters (a
sample-and-hold upsampler, whose images reach 8 kHz at -5 to -10 dB, made corrected CER 16 points
worse; linear interpolation was no better than polyphase over all 276 utterances), and nothing
put above 4 kHz or reshaping the band helped: the mirror image of the band (linear
interpolation's, alone or doubled; a flat reflection at -12 dB; the 2-4 kHz band copied
2 kHz up), low-level noise there, pre-emphasis or a +6 dB shelf above 2 kHz, and beam search
(5) each scored within the noise of plain polyphase or worse. Level normalisation cannot change
Whisper's features (its log-mel is normalised to the window's maximum, so a gain shifts every band
alike). The recogniser's guards needed no retuning: no PCMA utterance was rejected as non-speech
by the silero VAD, one in 276 fell back to the stock decoder.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

__all__ = ["NARROWBAND_RATE", "widen"]

NARROWBAND_RATE = 8000
WIDEBAND_RATE = 16000


def widen(audio: np.ndarray, sample_rate: int = NARROWBAND_RATE) -> np.ndarray:
    """Narrowband speech as float32 16 kHz audio for the recogniser (the same duration).

    Args:
        audio: Mono samples at ``sample_rate`` (float, -1..1).
        sample_rate: 8000 (the codec's samples: upsampled, ``2 * len(audio)`` samples out) or
            16000 (already upsampled by the transport: returned as float32).

    Raises:
        ValueError: another sample rate.
    """
    if sample_rate == WIDEBAND_RATE:
        return np.asarray(audio, np.float32)
    if sample_rate != NARROWBAND_RATE:
        raise ValueError(f"narrowband audio must be 8000 or 16000 Hz, got {sample_rate}")
    wide: np.ndarray = resample_poly(np.asarray(audio, np.float64), 2, 1)
    return wide.astype(np.float32)
