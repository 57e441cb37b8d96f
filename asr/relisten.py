"""Listening again: ask the audio whether a medical term it was near is what was said.

Whisper base hears many medical terms a syllable or two off (心肌梗死 → 行机等死, 冠状动脉造影 →
观众动脉造影) where the term corrector, which only takes near-exact homophones, must leave them.
After the first decode this second pass

1. corrects the text as the pipeline does (``TermCorrector``), then retrieves the curated terms
   and the dialogue's expected words the corrected text is near (``medical_terms.nearby``: fuzzy
   toneless pinyin over sliding windows, more than one syllable off allowed), keeping those whose
   span the first decode was unsure of (``Transcript.confidence``); no candidate, no second pass
   (the gate: about half the dev utterances, which are dense in terms, take it);
2. scores the text and each candidate spelling against the *same* encoder output, in one batched
   forced-decoding pass (CTranslate2 Whisper ``align``: the probability of every text token given
   the audio and the tokens before it), with the candidates as hotwords in the prompt;
3. replaces a span only when the audio prefers the candidate over what was written by
   ``min_gain`` nats (more for each syllable that sounds like nothing heard there) and over every
   other candidate for that span by ``min_lead``: two names the audio cannot tell apart (心率 /
   心律, 卡格列净 / 达格列净) stay as heard.

Re-decoding with the candidates as hotwords was tried first and dropped: on 40 dev utterances
the prompt made Whisper write distractor terms that were never said (欣康 for 心房, 华法令 for
华法林, 浮肿 for 服用): 10 of 23 replacements right. Scoring fixed spellings keeps the rest of
the sentence as heard and lets a threshold set precision. The hotwords in the scoring prompt
matter: without them Whisper's own language model prefers its greedy text, and the right term
lost by 1-25 nats as often as a wrong one.

Cost: one decoder pass over (candidates + 1) sequences, no encoder work; the texts are cut a few
characters after the last candidate span. ``align`` computes full-vocabulary logits at every
position, prompt and prefix included, so the cost grows with the batch (about 40-80 ms per
sequence on this 2-core box under load); cropping the encoder output to the speech saved
nothing and flipped 8 of 70 decisions. Measured results: ``evals/asr/README.md``.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from asr.short_window import ShortWindowSettings, ShortWindowTranscriber
from asr.transcriber import Transcript, WhisperSettings
from medical_terms import TermCorrector
from medical_terms.confidence import Confidence
from medical_terms.nearby import Nearby, NearbyTerms

logger = logging.getLogger("medvoice.asr")

# The decodes re-listened: not the stock fallback (a 30 s window, no encoder output kept).
_RELISTENED_PATHS = ("short_window", "wide_window")
_COINED = ("brand", "department")
_SPARE = 3  # candidates retrieved beyond max_candidates, in case the confidence gate drops some


@dataclass(frozen=True)
class RelistenSettings:
    """When the second pass runs and when it may replace a span.

    Parameters:
        max_candidates: Candidate spellings scored per utterance (the batch is this plus one).
        min_gain: Log-likelihood (nats, summed over the scored tokens) by which the audio must
            prefer the candidate over the text as corrected.
        min_lead: ... and over every other candidate overlapping the same span.
        min_short_score: Nearness a two-character candidate needs (two-character terms sit one
            syllable away from many everyday words).
        context_chars: Characters after the last candidate span that are still scored.
        min_coined_score: Nearness a brand or department name needs: they are coined words, so
            a loose sound match is no evidence (on the first 40 dev utterances every brand
            candidate under 0.8 was wrong, 6 of 6; on 120, 夫三米 became 福善美 at 0.82 where
            呋塞米 was said).
        max_confidence: A candidate's span is re-listened only when the first decode's lowest word
            probability in it (``Transcript.confidence``) is under this. On 120 dev utterances every
            candidate the audio then confirmed had a span under 0.56; the gate drops 13% of the
            candidates and 9% of the second passes.
        per_unrelated_syllable: More gain a candidate needs for each of its syllables that sounds
            like nothing heard there: the farther the text is from the term, the more the audio
            must prefer it (帝延低 was made 滴眼液 at 6.0 where 低脂饮 was said; 尿素氮 for 要素蛋
            had 6.4).
    """

    max_candidates: int = 3
    min_gain: float = 3.5
    min_lead: float = 4.0
    min_short_score: float = 0.9
    context_chars: int = 2
    min_coined_score: float = 0.9
    max_confidence: float = 0.6
    per_unrelated_syllable: float = 3.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_candidates <= 16:
            raise ValueError(f"max_candidates must be within 1-16, got {self.max_candidates}")
        if self.min_gain < 0 or self.min_lead < 0 or self.context_chars < 0:
            raise ValueError("min_gain, min_lead and context_chars must be >= 0")


@dataclass(frozen=True)
class Review:
    """What the second pass did to one decode.

    Parameters:
        first_text: The first decode, as the decoder wrote it.
        text: The transcript to use: ``first_text`` when nothing was replaced, else the corrected
            text with the replacements.
        candidates: Terms scored against the audio (empty: the gate skipped the second pass).
        changes: (heard span, term) pairs that were replaced.
        gains: Each candidate's log-likelihood gain over the text, in ``candidates`` order.
        seconds: Wall time of the review (correction, retrieval and scoring).
    """

    first_text: str
    text: str
    candidates: tuple[str, ...] = ()
    changes: tuple[tuple[str, str], ...] = ()
    gains: tuple[float, ...] = ()
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        """Whether the audio was scored (the gate let the second pass run)."""
        return bool(self.candidates)


@dataclass
class Relistener:
    """The second pass of one Whisper model; thread-safe (holds no per-call state).

    Args:
        model: The faster-whisper model whose encoder output is passed to ``review``.
        tokenizer: Its tokenizer (Mandarin, transcribe).
        settings: Thresholds.
        corrector: The term corrector (default: the packaged lexicon).
        nearby: The candidate retriever (default: the packaged lexicon).
        on_review: Called with every ``Review`` (the benchmark records them).
    """

    model: WhisperModel
    tokenizer: Tokenizer
    settings: RelistenSettings = field(default_factory=RelistenSettings)
    corrector: TermCorrector = field(default_factory=TermCorrector)
    nearby: NearbyTerms | None = None
    on_review: Callable[[Review], None] | None = None

    def __post_init__(self) -> None:
        if self.nearby is None:
            self.nearby = NearbyTerms(self.corrector.lexicon)

    def review(
        self,
        text: str,
        encoder_output: ctranslate2.StorageView,
        num_frames: int,
        hints: str | None = None,
        confidence: Confidence | None = None,
    ) -> Review:
        """Re-listen to ``text``, the first decode of ``encoder_output`` (``num_frames`` feature
        frames); ``hints`` are the words the dialogue expects (space-separated), also candidates;
        ``confidence`` is the first decode's per-word confidence: a span it was sure of is kept."""
        started = time.perf_counter()
        result = self._review(text, encoder_output, num_frames, hints, confidence)
        result = Review(
            result.first_text,
            result.text,
            result.candidates,
            result.changes,
            result.gains,
            time.perf_counter() - started,
        )
        if result.changes:
            logger.info("re-listen replaced %d span(s)", len(result.changes))
        if self.on_review is not None:
            self.on_review(result)
        return result

    def _review(
        self,
        text: str,
        encoder_output: ctranslate2.StorageView,
        num_frames: int,
        hints: str | None,
        confidence: Confidence | None,
    ) -> Review:
        corrected = self.corrector.correct(text).text
        candidates = self._candidates(corrected, hints)
        if confidence is not None and candidates:
            sure = confidence.realign(corrected) if confidence.text != corrected else confidence
            candidates = [c for c in candidates if sure.lowest(c.start, c.end) < self.settings.max_confidence]
        if not candidates:
            return Review(text, text)
        candidates = candidates[: self.settings.max_candidates]
        gains = self._gains(corrected, candidates, encoder_output, num_frames)
        chosen = self._choose(candidates, gains)
        if not chosen:
            return Review(text, text, tuple(c.term.text for c in candidates), (), tuple(gains))
        pieces, position = [], 0
        for candidate in sorted(chosen, key=lambda c: c.start):
            pieces.extend([corrected[position : candidate.start], candidate.term.text])
            position = candidate.end
        pieces.append(corrected[position:])
        changes = tuple((corrected[c.start : c.end], c.term.text) for c in chosen)
        return Review(text, "".join(pieces), tuple(c.term.text for c in candidates), changes, tuple(gains))

    def _candidates(self, text: str, hints: str | None) -> list[Nearby]:
        assert self.nearby is not None
        extra = [w for w in (hints or "").split() if len(w) >= 2]
        settings = self.settings
        found = [
            n
            for n in self.nearby.find(text, extra)
            if (len(n.term.text) > 2 or n.score >= settings.min_short_score)
            and (n.term.category not in _COINED or n.score >= settings.min_coined_score)
        ]
        return found[: settings.max_candidates + _SPARE]

    def _gains(
        self, text: str, candidates: list[Nearby], encoder_output: ctranslate2.StorageView, num_frames: int
    ) -> list[float]:
        """Log-likelihood of each candidate spelling minus that of ``text``, given the audio."""
        cut = min(len(text), max(c.end for c in candidates) + self.settings.context_chars)
        texts = [text[:cut]] + [text[: c.start] + c.term.text + text[c.end : cut] for c in candidates]
        hotwords = " ".join(c.term.text for c in candidates)
        start = [
            self.tokenizer.sot_prev,
            *self.tokenizer.encode(" " + hotwords),
            *self.tokenizer.sot_sequence,
        ]
        tokens = [self.tokenizer.encode(t) for t in texts]
        memory = np.asarray(encoder_output)
        batch = ctranslate2.StorageView.from_array(
            np.ascontiguousarray(np.repeat(memory, len(texts), axis=0))
        )
        results = self.model.model.align(batch, start, tokens, [num_frames] * len(texts))
        scores = [
            float(np.sum(np.log(np.maximum(np.asarray(r.text_token_probs, dtype=np.float64), 1e-12))))
            for r in results
        ]
        return [s - scores[0] for s in scores[1:]]

    def _choose(self, candidates: list[Nearby], gains: list[float]) -> list[Nearby]:
        """The candidates the audio prefers clearly, no two overlapping."""
        settings = self.settings
        chosen: list[Nearby] = []
        order = sorted(range(len(candidates)), key=lambda i: -gains[i])
        for i in order:
            candidate, gain = candidates[i], gains[i]
            if gain < settings.min_gain + settings.per_unrelated_syllable * candidate.unrelated:
                continue
            rivals = [
                gains[j]
                for j, other in enumerate(candidates)
                if j != i
                and other.start < candidate.end
                and candidate.start < other.end
                and other.term.text not in candidate.term.text
                and candidate.term.text not in other.term.text
            ]
            if rivals and gain - max(rivals) < settings.min_lead:
                continue
            if all(candidate.end <= c.start or candidate.start >= c.end for c in chosen):
                chosen.append(candidate)
        return chosen


class RelisteningTranscriber(ShortWindowTranscriber):
    """The short-window decoder with the second pass: every accepted short-window decode is
    re-listened (``Relistener``) on the encoder output it was decoded from.

    Args:
        settings: Whisper settings.
        window: Short-window settings.
        relisten: Second-pass thresholds.
        on_review: Called with every ``Review`` (the benchmark records them).
    """

    def __init__(
        self,
        settings: WhisperSettings,
        window: ShortWindowSettings | None = None,
        relisten: RelistenSettings | None = None,
        on_review: Callable[[Review], None] | None = None,
    ) -> None:
        super().__init__(settings, window)
        self.relistener = Relistener(
            self.model, self._tokenizer, relisten or RelistenSettings(), on_review=on_review
        )
        self._encoded = threading.local()
        encode = self.model.encode

        def remembering(features: np.ndarray, *args: Any, **kwargs: Any) -> ctranslate2.StorageView:
            output = encode(features, *args, **kwargs)
            self._encoded.last = (output, int(features.shape[-1]))
            return output

        self.model.encode = remembering  # type: ignore[method-assign,unused-ignore]  # reused by the second pass

    def first_pass(self, audio: np.ndarray, hotwords: str | None = None) -> tuple[Transcript, Heard]:
        """``transcribe`` without the second pass: the first decode now, and what ``second_pass``
        needs to re-listen to it later. The incremental decoder (``asr.incremental``) decodes the
        turn at every pause this way and re-listens only to the decode that becomes the final."""
        self._encoded.deferred = []
        try:
            transcript = self.transcribe(audio, hotwords)
            return transcript, Heard(tuple(self._encoded.deferred), hotwords)
        finally:
            self._encoded.deferred = None

    def second_pass(self, transcript: Transcript, heard: Heard) -> Transcript:
        """``transcript`` (from ``first_pass``, ``heard`` its pieces) re-listened, as ``transcribe``
        would have returned it."""
        pieces = [self._reviewed(piece, encoded, heard.hotwords) for piece, encoded in heard.pieces]
        if not pieces or all(p is q for p, (q, _) in zip(pieces, heard.pieces, strict=True)):
            return transcript
        if len(pieces) == 1:
            return dataclasses.replace(transcript, text=pieces[0].text, confidence=pieces[0].confidence)
        measured = [p.confidence for p in pieces]
        return dataclasses.replace(
            transcript,
            text="".join(p.text for p in pieces),
            confidence=(
                Confidence(tuple(w for c in measured if c for w in c.words))
                if all(c is not None for c in measured)
                else None
            ),
        )

    def _transcribe_piece(self, audio: np.ndarray, hotwords: str | None) -> Transcript:
        self._encoded.last = None
        transcript = super()._transcribe_piece(audio, hotwords)
        encoded = getattr(self._encoded, "last", None)
        deferred = getattr(self._encoded, "deferred", None)
        if deferred is not None:
            deferred.append((transcript, encoded))
            return transcript
        return self._reviewed(transcript, encoded, hotwords)

    def _reviewed(
        self,
        transcript: Transcript,
        encoded: tuple[ctranslate2.StorageView, int] | None,
        hotwords: str | None,
    ) -> Transcript:
        """One piece's first decode, re-listened on the encoder output it was decoded from."""
        if not transcript.text or transcript.path not in _RELISTENED_PATHS or encoded is None:
            return transcript
        encoder_output, frames = encoded
        review = self.relistener.review(
            transcript.text, encoder_output, frames, hotwords, transcript.confidence
        )
        if not review.changes:
            return transcript
        confidence = transcript.confidence
        if confidence is not None:
            # What the second pass (and the correction before it) wrote is marked corrected and keeps
            # the probability of what was first heard there: the dialogue still confirms it.
            confidence = confidence.realign(review.text, _rewritten(review.first_text, review.text))
        return dataclasses.replace(transcript, text=review.text, confidence=confidence)


@dataclass(frozen=True)
class Heard:
    """What ``RelisteningTranscriber.second_pass`` needs: each piece's first decode with the
    encoder output (and frame count) it came from, and the hotwords it was decoded with."""

    pieces: tuple[tuple[Transcript, tuple[ctranslate2.StorageView, int] | None], ...]
    hotwords: str | None


def _rewritten(before: str, after: str) -> list[tuple[int, int]]:
    """(start, end) spans of ``after`` that differ from ``before``."""
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [(j1, j2) for op, _, _, j1, j2 in matcher.get_opcodes() if op in ("replace", "insert")]
