"""The learned red-flag detector: kNN margins of three scorers against the packaged exemplar bank.

It can only add: the engine unions its hits with the rules' (:meth:`detect_hits` gives them in the
rules' own :class:`~dialogue.safety.RedFlagHit` form), and nothing it says clears or lowers a flag.
It runs with one thread (see :mod:`dialogue.detector.scorers`) and never logs the text it scores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np
from threadpoolctl import ThreadpoolController

from dialogue.detector.bank import SCORER_SETS, ExemplarBank, thresholds_file
from dialogue.detector.clauses import scoring_units
from dialogue.detector.scorers import E5Embedder, UseEmbedder
from dialogue.safety import RedFlagHit, SafetyRules

SOURCE = "learned kNN margin detector (dialogue/detector)"


class Embedder(Protocol):
    """A dense sentence embedder: ``embed`` returns L2-normalised rows."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class LearnedHit:
    """One red-flag code the detector raises for an utterance.

    Parameters:
        code: Red-flag code, as in the rules.
        score: Ensemble kNN margin (mean of the scaled per-scorer margins, best unit of the utterance).
        threshold: The code's threshold from the build's leave-one-out.
        margin: ``score - threshold`` (> 0): how far past the threshold.
    """

    code: str
    score: float
    threshold: float
    margin: float


class LearnedRedFlagDetector:
    """Scores an utterance and each of its clauses against the exemplar bank, per red-flag code.

    Build with :meth:`load`; the bank is built offline by ``python -m dialogue.detector.build``.
    """

    def __init__(self, bank: ExemplarBank, thresholds: dict[str, float], embedders: Sequence[Embedder]) -> None:
        missing = set(bank.codes) - set(thresholds)
        if missing:
            raise ValueError(f"no threshold for code(s) {sorted(missing)}; rebuild with python -m dialogue.detector.build")
        names = {embedder.name for embedder in embedders}
        if names != set(bank.scorers) - {"tfidf"}:
            raise ValueError(f"embedders {sorted(names)} do not match the bank's scorers {list(bank.scorers)}")
        self.bank = bank
        self.thresholds = np.array([thresholds[code] for code in bank.codes])
        self._embedders = tuple(embedders)
        # found once, after both libraries are loaded; limits BLAS and OpenMP to one thread per call
        self._threads = ThreadpoolController()

    @classmethod
    def load(cls, bank_dir: Path | None = None, scorer_set: str = "light") -> LearnedRedFlagDetector:
        """The packaged bank (or ``bank.npz`` in ``bank_dir``) scored by ``scorer_set`` with that set's
        thresholds file, its embedders loaded and warmed.

        ``light`` (TF-IDF + USE: ~6 ms an utterance, ~150 MB) is the service's default; ``full`` adds
        multilingual-e5 (~75 ms, +~25 MB) for a little more recall (the build's manifest compares them).

        Raises:
            FileNotFoundError: the bank or the set's thresholds file is missing.
            ValueError: an unknown scorer set.
        """
        if scorer_set not in SCORER_SETS:
            raise ValueError(f"unknown scorer set {scorer_set!r}; one of {sorted(SCORER_SETS)}")
        folder = bank_dir or Path(str(resources.files("dialogue.detector.data")))
        bank = ExemplarBank.load(folder / "bank.npz", SCORER_SETS[scorer_set])
        path = folder / thresholds_file(scorer_set)
        if not path.is_file():
            raise FileNotFoundError(f"thresholds {path} not found; build them with python -m dialogue.detector.build")
        embedders: list[Embedder] = []
        if "e5" in bank.scorers:
            embedders.append(E5Embedder())
        if "use" in bank.scorers:
            embedders.append(UseEmbedder())
        detector = cls(bank, json.loads(path.read_text("utf-8")), embedders)
        detector.detect("你好，我想咨询一下。")  # pages the weights in: the first caller is not kept waiting
        return detector

    def scores(self, utterance: str) -> np.ndarray:
        """``(codes,)`` ensemble scores of ``utterance`` (its best unit per code); ``-inf`` when empty."""
        units = scoring_units(utterance)
        if not units:
            return np.full(len(self.bank.codes), -np.inf)
        with self._threads.limit(limits=1):
            sims = {"tfidf": self.bank.similarities("tfidf", self.bank.tfidf.transform(units))}
            for embedder in self._embedders:
                sims[embedder.name] = self.bank.similarities(embedder.name, embedder.embed(units))
            return self.bank.scores(sims)

    def detect(self, utterance: str) -> list[LearnedHit]:
        """The codes whose score passes their threshold, largest margin first."""
        scores = self.scores(utterance)
        hits = [
            LearnedHit(code, float(score), float(limit), float(score - limit))
            for code, score, limit in zip(self.bank.codes, scores, self.thresholds, strict=True)
            if score > limit
        ]
        return sorted(hits, key=lambda hit: -hit.margin)

    def detect_hits(self, utterance: str) -> list[RedFlagHit]:
        """:meth:`detect` as the rules' hits (name, level and action of the rule with that code),
        evidence ``learned:<score>``, most urgent first; for the engine to union with the rules'."""
        rules = {rule.code: rule for rule in SafetyRules.load().rules}
        hits = [
            RedFlagHit(hit.code, rules[hit.code].name, rules[hit.code].level, rules[hit.code].action,
                       f"learned:{hit.score:.2f}", SOURCE)
            for hit in self.detect(utterance)
            if hit.code in rules
        ]
        return sorted(hits, key=lambda hit: hit.level)
