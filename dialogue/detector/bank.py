"""The exemplar bank: training units with their red-flag codes, embedded by each scorer at build time,
and the kNN margin that scores new text against them.

A unit is a training utterance or one of its clauses. It is a *positive* for code ``c`` when its
utterance is labelled ``c`` (the whole utterance, or a clause on which the project's rules alone raise
``c``), and a *negative* when its utterance has no red flag. For a text unit ``q`` and scorer ``s``::

    margin_s(q, c) = max cos_s(q, positive of c) - max cos_s(q, negative)

and the detector's score for ``c`` is the mean over the bank's scorers of ``margin_s / scale_s``
(``scale_s``: the spread of that scorer's margins on the training set, so no scorer dominates by
its cosine range), maximised over the utterance and its clauses.

The bank always holds all three scorers' vectors; which of them score is a choice made when it is
used (:data:`SCORER_SETS`): ``light`` (TF-IDF + USE, ~6 ms an utterance, the service default) or
``full`` (+ multilingual-e5, ~75 ms). Each set has its own thresholds, chosen at build time.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import sparse

from dialogue.detector.scorers import CharTfidf

SCORERS = ("tfidf", "e5", "use")
SCORER_SETS: dict[str, tuple[str, ...]] = {"light": ("tfidf", "use"), "full": SCORERS}
"""Named scorer sets: e5 costs ~70 ms an utterance on one thread, TF-IDF ~1 ms and USE ~5 ms."""


def thresholds_file(scorer_set: str) -> str:
    """The thresholds file of a named scorer set in a bank folder (``full`` keeps the original name)."""
    if scorer_set not in SCORER_SETS:
        raise ValueError(f"unknown scorer set {scorer_set!r}; one of {sorted(SCORER_SETS)}")
    return "thresholds.json" if scorer_set == "full" else f"thresholds_{scorer_set}.json"


# Cosine's floor: the similarity of a unit that is not there (its own utterance left out, or no
# exemplar of a code at all), so it never wins a max.
_ABSENT = -1.0


@dataclass(frozen=True)
class ExemplarBank:
    """Training units and their vectors.

    Parameters:
        codes: Red-flag codes, the column order of ``positive``.
        positive: ``(units, codes)`` bool: unit is an exemplar of the code.
        negative: ``(units,)`` bool: unit comes from an utterance without any red flag.
        source: ``(units,)`` int: index of the training utterance the unit comes from (leave-one-out).
        tfidf: The character n-gram vectoriser fitted on the units.
        vectors: Scorer name to its unit vectors (``tfidf``: sparse CSR; ``e5``, ``use``: dense).
        scales: Scorer name to the spread its margins are divided by.
        scorers: The scorers whose margins are averaged (a subset of :data:`SCORERS`).
    """

    codes: tuple[str, ...]
    positive: np.ndarray
    negative: np.ndarray
    source: np.ndarray
    tfidf: CharTfidf
    vectors: dict[str, np.ndarray | sparse.csr_matrix]
    scales: dict[str, float]
    scorers: tuple[str, ...] = SCORERS

    @property
    def size(self) -> int:
        return int(self.negative.shape[0])

    def similarities(self, scorer: str, query: np.ndarray | sparse.csr_matrix) -> np.ndarray:
        """``(queries, units)`` cosines of already-normalised query vectors against the bank."""
        bank = self.vectors[scorer]
        if sparse.issparse(bank):
            return np.asarray((query @ bank.T).todense(), dtype=np.float32)
        return np.asarray(query, dtype=np.float32) @ np.asarray(bank, dtype=np.float32).T

    def margins(self, sims: np.ndarray, leave_out: int | None = None) -> np.ndarray:
        """``(queries, codes)`` kNN margins for one scorer's similarities (without the units of
        training utterance ``leave_out``, for leave-one-out scoring)."""
        if leave_out is not None:
            sims = np.where(self.source[None, :] == leave_out, _ABSENT, sims)
        negative = sims[:, self.negative].max(axis=1, initial=_ABSENT)
        positive = np.stack(
            [sims[:, self.positive[:, c]].max(axis=1, initial=_ABSENT) for c in range(len(self.codes))], axis=1
        )
        margins: np.ndarray = positive - negative[:, None]
        return margins

    def scores(self, sims_by_scorer: dict[str, np.ndarray], leave_out: int | None = None) -> np.ndarray:
        """``(codes,)`` ensemble score of a text whose units' similarities are given: the mean of the
        scaled per-scorer margins, maximised over the units."""
        ensemble = np.asarray(sum(
            self.margins(sims_by_scorer[name], leave_out) / self.scales[name] for name in self.scorers
        ) / len(self.scorers))
        best: np.ndarray = ensemble.max(axis=0)
        return best

    def save(self, path: Path) -> None:
        """Write the bank as one compressed ``.npz`` (no pickles)."""
        tfidf_matrix = self.vectors["tfidf"]
        assert sparse.issparse(tfidf_matrix)
        csr = sparse.csr_matrix(tfidf_matrix)
        np.savez_compressed(
            path,
            codes=np.array(self.codes),
            positive=self.positive.astype(np.bool_),
            negative=self.negative.astype(np.bool_),
            source=self.source.astype(np.int32),
            tfidf_vocabulary=np.array(self.tfidf.vocabulary),
            tfidf_idf=self.tfidf.idf.astype(np.float32),
            tfidf_data=csr.data.astype(np.float16),
            tfidf_indices=csr.indices.astype(np.int32),
            tfidf_indptr=csr.indptr.astype(np.int32),
            e5=np.asarray(self.vectors["e5"], dtype=np.float16),
            use=np.asarray(self.vectors["use"], dtype=np.float16),
            scale_names=np.array(SCORERS),
            scale_values=np.array([self.scales[name] for name in SCORERS], dtype=np.float64),
        )

    @classmethod
    def load(cls, path: Path | None = None, scorers: tuple[str, ...] = SCORERS) -> ExemplarBank:
        """Read a bank written by :meth:`save` (default: the packaged ``dialogue/detector/data/bank.npz``),
        scoring with ``scorers``.

        Raises:
            FileNotFoundError: ``path`` does not exist (run ``python -m dialogue.detector.build``).
        """
        source = path or Path(str(resources.files("dialogue.detector.data").joinpath("bank.npz")))
        if not Path(source).is_file():
            raise FileNotFoundError(f"exemplar bank {source} not found; build it with python -m dialogue.detector.build")
        with np.load(source, allow_pickle=False) as z:
            tfidf = CharTfidf([str(g) for g in z["tfidf_vocabulary"]], z["tfidf_idf"])
            units = int(z["negative"].shape[0])
            tfidf_matrix = sparse.csr_matrix(
                (z["tfidf_data"].astype(np.float32), z["tfidf_indices"], z["tfidf_indptr"]),
                shape=(units, len(tfidf.vocabulary)),
            )
            return cls(
                codes=tuple(str(c) for c in z["codes"]),
                positive=z["positive"],
                negative=z["negative"],
                source=z["source"],
                tfidf=tfidf,
                vectors={"tfidf": tfidf_matrix, "e5": z["e5"].astype(np.float32), "use": z["use"].astype(np.float32)},
                scales={str(n): float(v) for n, v in zip(z["scale_names"], z["scale_values"], strict=True)},
                scorers=scorers,
            )
