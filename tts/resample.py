"""Streaming polyphase resampling (scipy ``resample_poly``) that matches a one-shot resample.

Audio arrives in pieces; resampling each piece on its own would put filter edge effects (clicks)
at every boundary. ``StreamResampler`` keeps a left context and holds back a right margin longer
than the anti-aliasing filter reaches, so the pieces it returns join into the signal a single
``resample_poly`` call over the whole input gives.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import resample_poly


class StreamResampler:
    """Resamples float32 mono audio from ``source_rate`` to ``target_rate`` piece by piece.

    Usage::

        resampler = StreamResampler(24000, 16000)
        out = [resampler.process(piece) for piece in pieces] + [resampler.flush()]

    Args:
        source_rate: Input sample rate in Hz.
        target_rate: Output sample rate in Hz.

    Raises:
        ValueError: if a rate is not positive.
    """

    def __init__(self, source_rate: int, target_rate: int) -> None:
        if source_rate <= 0 or target_rate <= 0:
            raise ValueError(
                f"sample rates must be positive, got {source_rate} -> {target_rate}; use e.g. 24000 -> 16000"
            )
        divisor = gcd(source_rate, target_rate)
        self.up = target_rate // divisor
        self.down = source_rate // divisor
        # resample_poly's filter has 10 * max(up, down) taps per side at the upsampled rate; in
        # input samples that is 10 * max / up. The margin is a whole number of `down` blocks so
        # every cut falls on an exact output sample.
        reach = -(-10 * max(self.up, self.down) // self.up) + 1
        self._margin = -(-reach // self.down) * self.down
        self._reset()

    def _reset(self) -> None:
        self._buffer = np.zeros(self._margin, np.float32)  # left context, then pending input
        self._inputs = 0
        self._outputs = 0

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Feed a piece; returns the output that is final so far (possibly empty)."""
        audio = np.asarray(audio, np.float32)
        if self.up == self.down:
            return audio
        self._buffer = np.concatenate([self._buffer, audio])
        self._inputs += audio.size
        pending = self._buffer.size - self._margin
        ready = (pending - self._margin) // self.down * self.down
        return self._emit(ready) if ready > 0 else np.zeros(0, np.float32)

    def flush(self) -> np.ndarray:
        """Return the rest of the output now that the input is over, and start afresh."""
        if self.up == self.down:
            return np.zeros(0, np.float32)
        pending = self._buffer.size - self._margin
        blocks = -(-pending // self.down) * self.down
        self._buffer = np.concatenate([self._buffer, np.zeros(blocks - pending + self._margin, np.float32)])
        out = self._emit(blocks) if blocks else np.zeros(0, np.float32)
        expected_total = -(-self._inputs * self.up // self.down)  # what one resample_poly call returns
        out = out[: max(0, out.size - (self._outputs - expected_total))]
        self._reset()
        return out

    def _emit(self, count: int) -> np.ndarray:
        segment = self._buffer[: self._margin + count + self._margin]
        resampled = resample_poly(segment, self.up, self.down)
        first = self._margin * self.up // self.down
        out: np.ndarray = resampled[first : first + count * self.up // self.down].astype(np.float32)
        self._buffer = self._buffer[count:]
        self._outputs += out.size
        return out
