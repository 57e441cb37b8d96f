"""Hearing a number said digit by digit (一、八、五): a decode that can only write digits.

After a failed read-back the follow-up flow asks for the value one digit at a time. Free decoding
hears such a string badly: Whisper base on the project's voice wrote 一、四、五 as 一字五 and
一，八，五，一，一，零 as nothing at all. Here the decoder may only write the digit characters (零 to
九, 两, 幺), Arabic digits, 点 (a decimal point) and separators: every other token is suppressed, so
the decode is a choice among digit strings. A digit prompt takes the place of the sentence prompt,
and a beam of five keeps the best hypothesis that is a digit string and neither runs on (the token
cap), loops (one digit four times running), breaks a character, writes more digits than a speaker
says in the time, nor is doubted by the decoder itself (length-normalised log-probability under -1);
the sentence guards' repetition and too-short rules do not apply (一、一、零 repeats by design, and
the pauses between digits are long). On 21 rendered readings (one voice, said with commas) the
greedy digit decode read 13 right and the beam 14 (with full stops between the digits: 8 and 13);
the free sentence decode read almost none. Scoring every value in range by forced alignment read 12
of 15 but took 25 s on two busy cores: not for a call. No per-word confidence here (the beam has
no token probabilities); a digit answer is always read back. A caller who answers in words gets
the sentence decoder's text when no hypothesis is a digit string (不知道 is heard as 不知道), but a
digit-only decode can make a number of words (我忘了 came out 五、八、二): the flow's range check and
the read-back stop it, never the decoder. Asking the sentence decoder too on every digit turn kept
such words but lost three of the 42 digit answers above (八零 heard as 巴铃铃), so it does not.
"""

from __future__ import annotations

import math
import re
from functools import cached_property

import numpy as np

from asr.short_window import ShortWindowTranscriber
from asr.text_guard import MIN_AVG_LOGPROB
from asr.transcriber import SAMPLE_RATE, Transcript

DIGIT_CHARS = "零〇一二两三四五六七八九幺点0123456789"
SEPARATORS = "、,. "
_PROMPT = "一、四、五。八、二。六、点、八。"
_TOKENS_PER_S = 8
_MAX_DIGITS_PER_S = 5
_BEAM = 5
_LOOP = re.compile(r"([零〇一二两三四五六七八九点0-9])(?:[、,. ]*\1){3}")  # one digit four times running


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
        """The digits said in ``audio`` (float32 16 kHz), e.g. ``一、八、五``: the best of a small beam's
        hypotheses that is a digit string and neither runs on nor loops; when none is, the sentence
        decoder's text (path ``digits:fallback:...``), so a caller who answered in words is heard."""
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
        speech_s = len(audio) / SAMPLE_RATE
        cap = int(math.ceil(_TOKENS_PER_S * max(speech_s, 1.0))) + 4
        transcriber = self.transcriber
        tokenizer = transcriber._tokenizer
        encoder_output = transcriber.model.encode(transcriber.window_features(audio))
        prompt = transcriber.model.get_prompt(tokenizer, self._prompt, without_timestamps=True)
        result = transcriber.model.model.generate(
            encoder_output,
            [prompt],
            beam_size=_BEAM,
            num_hypotheses=_BEAM,
            max_length=len(prompt) + cap,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppressed,
        )[0]
        for ids, score in zip(result.sequences_ids, result.scores, strict=True):
            tokens = [t for t in ids if t < tokenizer.eot]
            text = tokenizer.decode(tokens).strip()
            digits = sum(ch in DIGIT_CHARS for ch in text)
            core = "".join(ch for ch in text if ch in DIGIT_CHARS)
            looped = (
                len(ids) >= cap or _LOOP.search(text) is not None or re.search(r"(.{2,})\1", core) is not None
            )
            if (
                not digits
                or looped
                or "\ufffd" in text
                or score < MIN_AVG_LOGPROB
                or digits > _MAX_DIGITS_PER_S * max(speech_s, 1.0)
            ):
                continue
            return Transcript(text, float(result.no_speech_prob), duration, "digits")
        # No hypothesis is a clean digit string: what the caller said instead, as usual; when that is
        # nothing either, the best digit hypothesis all the same (the flow finds it unreadable and
        # asks again) rather than an empty turn, which the call would take for silence.
        fallback = transcriber.transcribe(audio)
        if not fallback.text:
            for ids in result.sequences_ids:
                text = tokenizer.decode([t for t in ids if t < tokenizer.eot]).strip()
                if text and "\ufffd" not in text and any(ch in DIGIT_CHARS for ch in text):
                    return Transcript(text, float(result.no_speech_prob), duration, "digits:doubtful")
        return Transcript(
            fallback.text,
            fallback.no_speech_prob,
            duration,
            f"digits:fallback:{fallback.path}",
            fallback.confidence,
        )
