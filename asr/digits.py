"""Hearing a number said digit by digit (一、八、五): a decode that can only write digits.

After a failed read-back the follow-up flow asks for the value one digit at a time. Free decoding
hears such a string badly: Whisper base on the project's voice wrote 一、四、五 as 一字五 and
一，八，五，一，一，零 as nothing at all. Here the decoder may only write the digit characters (零 to
九, 两, 幺), Arabic digits, 点 (a decimal point) and separators: every other token is suppressed, so
the decode is a choice among digit strings, made by the same greedy pass. A digit prompt takes the
place of the sentence prompt. A decode that runs on, breaks a character, writes more digits than a
speaker says in the time or that the decoder itself doubts (mean log-probability under -1) is
rejected (empty), and so is a clip with no speech; the sentence guards' repetition and too-short
rules do not apply (一，一，零 repeats by design, and the pauses between digits are long).
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from asr.short_window import ShortWindowTranscriber
from asr.text_guard import MIN_AVG_LOGPROB
from asr.transcriber import SAMPLE_RATE, Transcript

DIGIT_CHARS = "零〇一二两三四五六七八九幺点0123456789"
SEPARATORS = "，、,. "
_PROMPT = "一，四，五。八，二。六，点，八。"
_TOKENS_PER_S = 6
_MAX_DIGITS_PER_S = 5


class DigitDecoder:
    """Decodes digit-by-digit answers with the call's short-window transcriber (shared, thread-safe:
    it keeps nothing per call)."""

    def __init__(self, transcriber: ShortWindowTranscriber) -> None:
        self.transcriber = transcriber

    @cached_property
    def _suppressed(self) -> list[int]:
        """Every token that writes anything but digits and separators (byte pieces of a digit
        character, such as the two tokens of 零, are allowed)."""
        tokenizer = self.transcriber._tokenizer
        allowed_chars = set(DIGIT_CHARS + SEPARATORS)
        allowed = set()
        for token in range(tokenizer.eot):
            piece = tokenizer.decode([token])
            if piece.strip() and "\ufffd" not in piece and set(piece) <= allowed_chars:
                allowed.add(token)
        for ch in DIGIT_CHARS + SEPARATORS:
            allowed.update(tokenizer.encode(ch))
            allowed.update(tokenizer.encode(" " + ch))
        return [t for t in range(tokenizer.eot) if t not in allowed]

    @cached_property
    def _prompt(self) -> list[int]:
        return list(self.transcriber._tokenizer.encode(" " + _PROMPT))

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """The digits said in ``audio`` (float32 16 kHz), e.g. ``一,八,五``; empty when none were heard."""
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        guard = self.transcriber._guard
        if duration < 0.1:
            return Transcript("", 1.0, duration, "rejected:silence")
        if guard is not None:
            check = guard.check(audio)
            if check.rejection is not None:
                return Transcript("", 1.0, duration, f"rejected:{check.rejection}")
            lead = int(self.transcriber.window.lead_s * SAMPLE_RATE)
            audio = audio[max(0, check.speech_start - lead) : check.speech_end]
        cap = int(math.ceil(_TOKENS_PER_S * max(len(audio) / SAMPLE_RATE, 1.0))) + 4
        decode = self.transcriber.decode_window(
            audio, None, prompt_tokens=self._prompt, suppressed=self._suppressed, max_new_tokens=cap
        )
        digits = sum(ch in DIGIT_CHARS for ch in decode.text)
        if (
            decode.ran_on
            or "\ufffd" in decode.text
            or decode.avg_logprob < MIN_AVG_LOGPROB
            or digits > _MAX_DIGITS_PER_S * max(duration, 1.0)
        ):
            return Transcript("", decode.no_speech_prob, duration, "digits:rejected")
        return Transcript(decode.text, decode.no_speech_prob, duration, "digits", decode.confidence)
