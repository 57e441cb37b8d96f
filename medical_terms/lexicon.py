"""The medical lexicon: terms with precomputed toneless pinyin, loaded once from ``data/lexicon.tsv``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Term:
    """One lexicon entry.

    Parameters:
        text: The term in simplified Chinese.
        pinyin: Toneless pinyin, one syllable per character.
        source: ``curated`` (our high-priority list) or ``thuocl``.
        category: drug, brand, condition, symptom, exam, ... (``medical`` for THUOCL).
        weight: Curated terms rank first; THUOCL terms carry their document frequency.
    """

    text: str
    pinyin: tuple[str, ...]
    source: str
    category: str
    weight: int

    @property
    def curated(self) -> bool:
        return self.source == "curated"


class Lexicon:
    """All terms, by text. Build with ``Lexicon.load()``."""

    def __init__(self, terms: list[Term]) -> None:
        self.terms = terms
        self.by_text = {term.text: term for term in terms}

    def __len__(self) -> int:
        return len(self.terms)

    def __contains__(self, text: object) -> bool:
        return text in self.by_text

    @classmethod
    def load(cls, path: Path | None = None) -> Lexicon:
        """Read the packaged lexicon, or the TSV at ``path`` (same columns) when given.

        Raises:
            FileNotFoundError: ``path`` does not exist (the message names it).
            ValueError: a row does not have the five columns.
        """
        if path is not None:
            if not Path(path).is_file():
                raise FileNotFoundError(f"lexicon file {path} does not exist; pass an existing TSV or None")
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files("medical_terms.data").joinpath("lexicon.tsv").read_text(encoding="utf-8")
        terms = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 5:
                raise ValueError(
                    f"lexicon line {number} has {len(fields)} columns, expected 5 "
                    "(term, pinyin, source, category, weight); rebuild with python -m medical_terms.build_lexicon"
                )
            term, pinyin, source, category, weight = fields
            terms.append(Term(term, tuple(pinyin.split()), source, category, int(weight)))
        return cls(terms)
