"""Run every sentence through the decoders and the correction, collecting per-utterance rows.

For each sentence and voice the clean audio goes through the stock ``transcribe``, the
short-window decoder and (unless turned off) the incremental decoder, interleaved so all see the
same machine load; the degraded conditions go through the short-window decoder only (the stock
one is the latency baseline, not the product), and the phone codecs also through the second pass
when it is on (a call re-listens whatever its transport). Latency is the time from handing over the
finished utterance to the final text: decoding plus term correction plus number normalisation.
For the incremental decoder the utterance is streamed in real-time order (``streaming.replay``):
it is handed over where the live VAD would report the stop, and its latency also counts waiting
for a decode that was still running then. With a second-pass decoder (``asr.relisten``) the
clean audio also goes through it, on its own and streamed (decoders ``relisten`` and
``incremental_relisten``), next to the same decoders without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from asr.incremental import IncrementalSettings
from asr.relisten import RelisteningTranscriber, Review
from asr.short_window import ShortWindowTranscriber
from asr.transcriber import Transcript, WhisperTranscriber
from evals.asr.audio import PHONE_CONDITIONS, Voice, degrade
from evals.asr.metrics import char_errors, correct_changes, expected_numbers, number_tokens, term_hits
from evals.asr.streaming import replay
from medical_terms import CorrectionResult, TermCorrector, normalize_numbers


@dataclass(frozen=True)
class Row:
    """One decoded utterance and its scores."""

    sentence_id: str
    voice: str
    condition: str
    decoder: str
    path: str
    audio_s: float
    latency_s: float
    errors_raw: int
    errors_corrected: int
    reference_chars: int
    terms: int
    term_hits_raw: int
    term_hits_corrected: int
    changes: int
    changes_correct: int
    numbers_expected: int
    numbers_found: int
    wait_s: float = 0.0
    early_busy_s: float = 0.0
    early_cpu_s: float = 0.0
    early_decodes: int = 0
    reused: bool = False
    relisten_ran: bool = False
    relisten_s: float = 0.0
    relisten_changes: int = 0
    relisten_correct: int = 0


class Runner:
    """Holds the models; ``run`` scores one sentence under every voice and condition asked."""

    def __init__(self, stock: WhisperTranscriber, fast: ShortWindowTranscriber, corrector: TermCorrector,
                 incremental: IncrementalSettings | None = None,
                 relisten: RelisteningTranscriber | None = None) -> None:
        self.stock = stock
        self.fast = fast
        self.corrector = corrector
        self.incremental = incremental
        self.relisten = relisten
        self.reviews: list[Review] = []
        if relisten is not None:
            relisten.relistener.on_review = self.reviews.append

    def run(self, record: dict, voices: list[Voice], conditions: tuple[str, ...], seed: int) -> list[Row]:
        rows = []
        for voice in voices:
            clean = voice.render(record["text"])
            for condition in conditions:
                audio = degrade(clean, condition, seed)
                rows.append(self._decode(record, voice.name, condition, "short_window", self.fast, audio))
                if condition in PHONE_CONDITIONS and self.relisten is not None:
                    rows.append(self._relistened(record, voice.name, condition, audio, None))
                if condition == "clean":
                    rows.append(self._decode(record, voice.name, condition, "stock", self.stock, audio))
                    if self.incremental is not None:
                        rows.append(self._stream(record, voice.name, condition, audio, self.incremental))
                    if self.relisten is not None:
                        rows.append(self._relistened(record, voice.name, condition, audio, None))
                        if self.incremental is not None:
                            rows.append(self._relistened(record, voice.name, condition, audio, self.incremental))
        return rows

    def _relistened(self, record: dict, voice: str, condition: str, audio: np.ndarray,
                    settings: IncrementalSettings | None) -> Row:
        """The second-pass decoder, alone or streamed; raw scores are the first pass's."""
        assert self.relisten is not None
        self.reviews.clear()
        if settings is None:
            row = self._decode(record, voice, condition, "relisten", self.relisten, audio)
        else:
            row = self._stream(record, voice, condition, audio, settings, self.relisten, "incremental_relisten")
        if not self.reviews:
            return row
        review = self.reviews[-1]  # the decode that gave the final (a reused pause decode, or the last)
        terms = list(record.get("terms", []))
        errors_raw, _ = char_errors(record["text"], review.first_text)
        correct = sum(term in record["text"] for _, term in review.changes)
        return replace(row, errors_raw=errors_raw, term_hits_raw=term_hits(terms, review.first_text),
                       relisten_ran=review.ran, relisten_s=review.seconds, relisten_changes=len(review.changes),
                       relisten_correct=correct, changes=row.changes + len(review.changes),
                       changes_correct=row.changes_correct + correct)

    def _stream(self, record: dict, voice: str, condition: str, audio: np.ndarray,
                settings: IncrementalSettings, transcriber: ShortWindowTranscriber | None = None,
                decoder: str = "incremental") -> Row:
        streamed = replay(transcriber or self.fast, audio, settings)
        start = time.perf_counter()
        correction = self.corrector.correct(streamed.transcript.text)
        final = normalize_numbers(correction.text)
        latency = streamed.final_s + time.perf_counter() - start
        row = self._score(record, voice, condition, decoder, streamed.transcript, correction, final)
        return replace(row, audio_s=streamed.streamed_s, latency_s=latency, wait_s=streamed.wait_s,
                       early_busy_s=streamed.interim_wall_s, early_cpu_s=streamed.interim_cpu_s,
                       early_decodes=streamed.interims, reused=streamed.reused)

    def _decode(
        self, record: dict, voice: str, condition: str, decoder: str, transcriber: WhisperTranscriber,
        audio: np.ndarray,
    ) -> Row:
        start = time.perf_counter()
        transcript = transcriber.transcribe(audio)
        correction = self.corrector.correct(transcript.text)
        final = normalize_numbers(correction.text)
        latency = time.perf_counter() - start
        row = self._score(record, voice, condition, decoder, transcript, correction, final)
        return replace(row, audio_s=len(audio) / 16000, latency_s=latency)

    @staticmethod
    def _score(record: dict, voice: str, condition: str, decoder: str, transcript: Transcript,
               correction: CorrectionResult, final: str) -> Row:
        """Score a final text (``transcript`` raw, corrected, normalised) against the reference;
        the caller sets ``audio_s`` and ``latency_s``."""
        reference = record["text"]
        terms = list(record.get("terms", []))
        errors_raw, length = char_errors(reference, transcript.text)
        errors_corrected, _ = char_errors(reference, correction.text)
        expected = expected_numbers(record)
        found = number_tokens(final)
        return Row(
            sentence_id=record["id"],
            voice=voice,
            condition=condition,
            decoder=decoder,
            path=transcript.path,
            audio_s=0.0,
            latency_s=0.0,
            errors_raw=errors_raw,
            errors_corrected=errors_corrected,
            reference_chars=length,
            terms=len(terms),
            term_hits_raw=term_hits(terms, transcript.text),
            term_hits_corrected=term_hits(terms, correction.text),
            changes=len(correction.changes),
            changes_correct=correct_changes(correction, reference),
            numbers_expected=sum(expected.values()),
            numbers_found=sum((expected & found).values()),
        )
