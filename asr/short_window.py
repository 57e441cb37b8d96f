"""Fast final transcripts: encode only the utterance, not a 30 s window.

faster-whisper's ``transcribe`` pads every clip to 30 s of features, so a 3 s utterance pays for
30 s of encoder time. The CTranslate2 encoder accepts shorter feature windows, so this decoder
encodes the utterance plus a short silent margin and decodes greedily with the same prompt,
hotwords and guards as the stock path. A short window occasionally makes the decoder loop or
run on, so its output goes through ``text_guard.degenerate``; a rejected result is decoded again
in a wider window (``retry_window_s``, path ``wide_window``) and, if that is rejected too, with
the stock ``transcribe`` (path ``fallback``), except for a clip under ``short_clip_s`` (a short
answer, a backchannel, a cough): stock answered nothing for such clips, seconds later, so a short
clip gets the wider window only, and is empty when that is rejected too, unless its text sounds
exactly like one of the words the dialogue expects now (``expected_spelling``). Audio that holds
no speech (``signal_guard``) gives an empty transcript before any decoding, and audio longer than
``max_window_s`` is split at pauses and decoded piece by piece, never dropped.

Short answers need that care: a 0.7-1.2 s 没有, 好的, 一般般 in a 5 s window is decoded with a
mean token log-probability just under the guard's -1.0 (two or three tokens make a noisy mean)
or misheard (炝登 for 好的, 一旁旁 for 一般般); in a 10 s window it is mostly heard right and sure
(34 rendered short answers with their questions' hints: right and accepted 15 -> 20).

Each decode also says how sure the decoder was of every word (``Transcript.confidence``): the
softmax probability of each generated token, from the logits of the same greedy pass (no second
decode), a character written by several byte tokens getting their product.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from asr.signal_guard import SignalGuard, SignalGuardSettings
from asr.splitting import split_long_audio
from asr.text_guard import MAX_CHARS_PER_S, degenerate
from asr.transcriber import SAMPLE_RATE, Transcript, WhisperSettings, WhisperTranscriber
from medical_terms.confidence import Confidence, WordConfidence
from medical_terms.phonetics import is_hanzi, syllables

logger = logging.getLogger("medvoice.asr")

_MAX_ENCODER_FRAMES = 3000
LOG_PROB_THRESHOLD = -1.0
_PUNCTUATION = "，。,.!！?？、"


@dataclass(frozen=True)
class ShortWindowSettings:
    """How the short-window decoder sizes its window and guards its output.

    Parameters:
        margin_s: Silence after the last speech inside the window.
        lead_s: Audio kept before the first speech the VAD found.
        min_window_s: Shortest window encoded.
        retry_window_s: Shortest window of the second decode, when the first one's text is
            rejected; 0 goes straight to the stock decoder. On the 20 of 414 dev utterances whose
            first decode was rejected, a 10 s window passed the guard on 18 in 0.41 s (median)
            with 78 character errors where stock made 75 in 1.56 s (not counting one utterance
            on which stock looped: 208 errors on 21 characters; the 10 s window made 13).
        max_window_s: Longest piece encoded at once (the encoder's limit is 30 s).
        signal_guard: Checks for silence, noise and clipping; None skips them (the caller's VAD
            already gated the audio).
        short_clip_s: A clip shorter than this whose decodes are rejected never goes to the stock
            decoder (it answered nothing for 14 of 14 short words and backchannels, 1-2 s later).
        expected_min_logprob: A short clip's rejected decode is still taken when it was rejected
            only for low confidence, its mean token log-probability is at least this, and it
            sounds exactly (toneless pinyin, syllable by syllable) like a hotword (the answers
            the dialogue expects now come first among them): 试的 under 对 是的 不对 is 是的.

    The window is padded with silent *audio* before the log-mel features are computed, as
    Whisper saw padding in training; padding the features with zeros (what ``pad_or_trim``
    does) is a loud constant hum in Whisper's normalised log-mel scale, and with windows under
    10 s the decoder then cut utterances short or looped. On 40 medical sentences (one voice,
    one thread, machine busy): feature padding at 10 s min window CER 39.2%, 328 ms median;
    feature padding, utterance + 1 s: 38.8%, 240 ms, 6 of 40 fallbacks; audio padding,
    utterance + 1 s, at least 5 s: 31.6%, 226 ms, p95 377 ms, 1 fallback. On the whole set
    (207 sentences x 2 voices, clean, ``evals.asr``) the gain is smaller: raw CER 34.0% -> 33.9%,
    median final latency 426 -> 337 ms, but 4.3% of decodes fall back (0.7% before).
    """

    margin_s: float = 1.0
    lead_s: float = 0.2
    min_window_s: float = 5.0
    retry_window_s: float = 10.0
    max_window_s: float = 28.0
    signal_guard: SignalGuardSettings | None = field(default_factory=SignalGuardSettings)
    short_clip_s: float = 1.5
    expected_min_logprob: float = -1.5

    def __post_init__(self) -> None:
        if not 0 <= self.margin_s <= 5:
            raise ValueError(f"margin_s must be within 0-5 s, got {self.margin_s}")
        if not 0 <= self.min_window_s <= self.max_window_s:
            raise ValueError(f"min_window_s must be within 0-max_window_s, got {self.min_window_s}")
        if not 1 <= self.max_window_s <= 29:
            raise ValueError(
                f"max_window_s must be within 1-29 s (encoder limit 30 s), got {self.max_window_s}"
            )
        if self.retry_window_s and not 1 <= self.retry_window_s <= 30:
            raise ValueError(f"retry_window_s must be 0 (off) or within 1-30 s, got {self.retry_window_s}")


class WindowDecode(NamedTuple):
    """One greedy decode of a window: the text, the guards' inputs and each word's probability."""

    text: str
    no_speech_prob: float
    avg_logprob: float
    ran_on: bool
    confidence: Confidence | None = None


class ShortWindowTranscriber(WhisperTranscriber):
    """A ``WhisperTranscriber`` whose ``transcribe`` encodes only the utterance window.

    Same call and result as the stock transcriber (``transcribe(audio, hotwords) -> Transcript``),
    ``Transcript.path`` says which decoder answered. On the 207-sentence medical set (2 voices,
    clean) it was 3.3x faster than stock at the median (337 vs 1112 ms), with raw CER 2.8 points lower.
    """

    def __init__(self, settings: WhisperSettings, window: ShortWindowSettings | None = None) -> None:
        super().__init__(settings)
        self.window = window or ShortWindowSettings()
        self._guard = SignalGuard(self.window.signal_guard) if self.window.signal_guard else None
        self._tokenizer = Tokenizer(self.model.hf_tokenizer, True, task="transcribe", language="zh")
        self._prompt_tokens = self._tokenizer.encode(" " + settings.initial_prompt.strip())
        self._suppressed = list(get_suppressed_tokens(self._tokenizer, [-1]))

    def transcribe(self, audio: np.ndarray, hotwords: str | None = None) -> Transcript:
        """Transcribe one utterance of any length (float32 16 kHz mono)."""
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        if duration < 0.1:
            return Transcript("", 1.0, duration, "rejected:silence")
        if self._guard is not None:
            check = self._guard.check(audio)
            if check.rejection is not None:
                return Transcript("", 1.0, duration, f"rejected:{check.rejection}")
            # The VAD segment carries pre-roll and hangover; encoding them costs time, not accuracy.
            lead = int(self.window.lead_s * SAMPLE_RATE)
            audio = audio[max(0, check.speech_start - lead) : check.speech_end]
        pieces = split_long_audio(audio, self.window.max_window_s)
        results = [self._transcribe_piece(piece, hotwords) for piece in pieces]
        if len(results) == 1:
            return results[0]
        paths = {r.path for r in results}
        measured = [r.confidence for r in results]
        return Transcript(
            text="".join(r.text for r in results),
            no_speech_prob=min(r.no_speech_prob for r in results),
            audio_s=duration,
            path=paths.pop() if len(paths) == 1 else "fallback",
            confidence=(
                Confidence(tuple(w for c in measured if c for w in c.words))
                if all(c is not None for c in measured)
                else None
            ),
        )

    def _transcribe_piece(self, audio: np.ndarray, hotwords: str | None) -> Transcript:
        duration = len(audio) / SAMPLE_RATE
        decode = self._decode_window(audio, hotwords)
        text, no_speech, avg_logprob, ran_on = decode[:4]
        reason = _rejection(text, duration, avg_logprob, ran_on)
        path = "short_window"
        if reason is not None and self.window.retry_window_s:
            logger.info(
                "short-window decode rejected (%s, %.1f s audio); retrying in a %.0f s window",
                reason,
                duration,
                self.window.retry_window_s,
            )
            decode = self._decode_window(audio, hotwords, self.window.retry_window_s)
            text, no_speech, avg_logprob, ran_on = decode[:4]
            reason = _rejection(text, duration, avg_logprob, ran_on)
            path = "wide_window"
        if reason is not None and duration < self.window.short_clip_s:
            # The stock decoder pads such a clip to 30 s and answered nothing for 14 of 14 short
            # words and backchannels (对, 是的, 哦, 头疼 ...), 1-2 s later: an expected word or nothing, now.
            expected = (
                expected_spelling(text, hotwords)
                if reason == "low_confidence" and avg_logprob >= self.window.expected_min_logprob
                else None
            )
            silent = no_speech > self.settings.no_speech_threshold
            if expected is None or silent:
                return Transcript("", no_speech, duration, f"rejected:{reason}")
            measured = decode[4] if len(decode) > 4 else None
            return Transcript(expected, no_speech, duration, path, _respelled(measured, text, expected))
        if reason is not None:
            logger.info(
                "short-window decode rejected (%s, %.1f s audio); using stock transcribe", reason, duration
            )
            stock = super().transcribe(audio, hotwords)
            return Transcript(stock.text, stock.no_speech_prob, duration, "fallback")
        # faster-whisper's own rule: no speech only when the decoder was also unsure of its text.
        silent = no_speech > self.settings.no_speech_threshold and avg_logprob < LOG_PROB_THRESHOLD
        if silent or self._echoes_prompt(text):
            return Transcript("", no_speech, duration, path)
        return Transcript(text, no_speech, duration, path, decode[4] if len(decode) > 4 else None)

    def window_features(self, audio: np.ndarray, min_window_s: float | None = None) -> np.ndarray:
        """Log-mel features of ``audio`` padded with silence to its window (an even frame count),
        at least ``min_window_s`` long (default: the settings')."""
        shortest = self.window.min_window_s if min_window_s is None else min_window_s
        window_s = min(max(len(audio) / SAMPLE_RATE + self.window.margin_s, shortest), 30.0)
        padded = np.pad(audio, (0, max(0, int(window_s * SAMPLE_RATE) - len(audio))))
        features = self.model.feature_extractor(padded)
        frames = min(features.shape[-1] - 1, _MAX_ENCODER_FRAMES)
        frames -= frames % 2  # the encoder's stride-2 convolution wants an even length
        return np.ascontiguousarray(features[:, :frames])

    def _decode_window(
        self, audio: np.ndarray, hotwords: str | None, min_window_s: float | None = None
    ) -> WindowDecode:
        """(text, no-speech probability, mean token log-probability, whether it hit the token cap,
        per-word confidence)."""
        return self.decode_window(audio, hotwords, min_window_s)

    def decode_window(
        self,
        audio: np.ndarray,
        hotwords: str | None,
        min_window_s: float | None = None,
        *,
        prompt_tokens: list[int] | None = None,
        suppressed: list[int] | None = None,
        max_new_tokens: int | None = None,
    ) -> WindowDecode:
        """One greedy decode of ``audio`` in its window, with each word's probability.

        ``prompt_tokens``, ``suppressed`` and ``max_new_tokens`` replace the initial prompt, the
        suppressed tokens and the token cap (a constrained decode, e.g. ``asr.digits``)."""
        encoder_output = self.model.encode(self.window_features(audio, min_window_s))
        prompt = self.model.get_prompt(
            self._tokenizer,
            self._prompt_tokens if prompt_tokens is None else prompt_tokens,
            without_timestamps=True,
            hotwords=hotwords,
        )
        duration = len(audio) / SAMPLE_RATE
        # Twice the tokens the text guard allows characters: a decode that reaches the cap looped.
        new_tokens = min(
            max_new_tokens or int(math.ceil(MAX_CHARS_PER_S * max(duration, 1.0))) * 2 + 8,
            self.model.max_length - len(prompt),
        )
        result = self.model.model.generate(
            encoder_output,
            [prompt],
            beam_size=self.settings.beam_size,
            max_length=len(prompt) + new_tokens,
            return_no_speech_prob=True,
            return_scores=True,
            return_logits_vocab=self.settings.beam_size == 1,
            suppress_blank=True,
            suppress_tokens=self._suppressed if suppressed is None else suppressed,
        )[0]
        generated = result.sequences_ids[0]
        tokens = [t for t in generated if t < self._tokenizer.eot]
        text = self._to_simplified.convert(self._tokenizer.decode(tokens).strip())
        # CTranslate2 returns the length-normalised score; faster-whisper's average counts the end token.
        avg_logprob = result.scores[0] * len(generated) / (len(generated) + 1)
        confidence = self._confidence(tokens, result.logits[0], text) if result.logits else None
        return WindowDecode(
            text, float(result.no_speech_prob), avg_logprob, len(generated) >= new_tokens, confidence
        )

    def _confidence(self, tokens: list[int], logits: list[Any], text: str) -> Confidence:
        """Each character's probability: its token's softmax probability (the product over the byte
        tokens that write one character), over ``text``."""
        pieces: list[tuple[str, float]] = []
        pending: list[int] = []
        probability = 1.0
        for token, step in zip(tokens, logits, strict=False):
            scores = np.asarray(step, dtype=np.float32).reshape(-1)
            top = float(scores.max())
            probability *= float(np.exp(scores[token] - top) / np.exp(scores - top).sum())
            pending.append(token)
            piece = self._tokenizer.decode(pending)
            if "\ufffd" not in piece:
                pieces.append((self._to_simplified.convert(piece), probability))
                pending, probability = [], 1.0
        confidence = Confidence.of_pieces(pieces)
        return confidence if confidence.text == text else confidence.realign(text)


def _rejection(text: str, duration: float, avg_logprob: float, ran_on: bool) -> str | None:
    """Why a window's decode cannot be used (``run_on``: it hit the token cap), or None."""
    return "run_on" if ran_on else degenerate(text, duration, avg_logprob)


def expected_spelling(text: str, hotwords: str | None) -> str | None:
    """The hotword ``text`` sounds exactly like (same toneless syllables, one per character), or None.

    Only all-Chinese texts of two to six characters are matched (a short answer, not a sentence;
    one syllable is too little evidence: 队 is no 对 at a read-back), and only when exactly one
    spelling of the hotwords matches."""
    core = "".join(ch for ch in text if not ch.isspace() and ch not in _PUNCTUATION)
    if not hotwords or not 2 <= len(core) <= 6 or not all(is_hanzi(ch) for ch in core):
        return None
    heard = syllables(core)
    matches = {word for word in hotwords.split() if len(word) == len(core) and syllables(word) == heard}
    return matches.pop() if len(matches) == 1 else None


def _respelled(measured: Confidence | None, heard: str, expected: str) -> Confidence | None:
    """The decoder's per-character probabilities of ``heard``, moved onto ``expected`` (the same
    syllables): the dialogue still sees that the decoder was unsure."""
    if measured is None or measured.text != heard:
        return None
    probabilities = [
        w.probability for w in measured.words if not w.text.isspace() and w.text not in _PUNCTUATION
    ]
    if len(probabilities) != len(expected):
        return None
    return Confidence(tuple(WordConfidence(ch, p) for ch, p in zip(expected, probabilities, strict=True)))
