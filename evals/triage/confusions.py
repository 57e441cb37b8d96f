"""``python -m evals.triage.confusions CASES.jsonl... --out FILE``: the recogniser's homophone confusions,
from the per-case transcripts that ``python -m evals.triage --audio`` writes.

Each vignette's words are aligned with the raw transcript character by character (difflib); a
replaced character whose toneless syllable, with the confusable sounds merged, is that of the
character said (喘 → 传, 疼 → 腾, 止 → 只) counts as one confusion. Writes, per character said, the
substitute heard most often (seen at least ``--min-count`` times), for tests that apply the
recogniser's typical mistakes to the red-flag rules' examples (``tests/test_concepts_by_sound.py``).
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from medical_terms.phonetics import fuzzy, is_hanzi, syllables


def confusions(pairs: Iterable[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """(said, heard) character pairs of the same fuzzy sound, counted over (words, transcript) pairs."""
    found: Counter[tuple[str, str]] = Counter()
    for said, heard in pairs:
        matcher = difflib.SequenceMatcher(None, said, heard, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op != "replace" or i2 - i1 != j2 - j1:
                continue
            for a, b in zip(said[i1:i2], heard[j1:j2], strict=True):
                if is_hanzi(a) and is_hanzi(b) and fuzzy(syllables(a)[0]) == fuzzy(syllables(b)[0]):
                    found[(a, b)] += 1
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.triage.confusions", description=__doc__.splitlines()[0])
    parser.add_argument("cases", type=Path, nargs="+", help="cases_<mode>_speech.jsonl files")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--min-count", type=int, default=2)
    args = parser.parse_args(argv)
    rows = [json.loads(line) for path in args.cases for line in path.read_text("utf-8").splitlines() if line.strip()]
    counted = confusions((row["text"], row["raw"]) for row in rows)
    table: dict[str, str] = {}
    for (said, heard), count in counted.most_common():
        if count >= args.min_count and said not in table:
            table[said] = heard
    args.out.write_text(
        json.dumps(
            {
                "about": "The recogniser's most frequent homophone per character said (python -m "
                "evals.triage.confusions), from Whisper base transcripts of the project's voice reading "
                + ", ".join(sorted({path.parent.name for path in args.cases})),
                "utterances": len(rows),
                "confusions": table,
            },
            ensure_ascii=False,
            indent=1,
        )
        + "\n",
        "utf-8",
    )
    print(f"{len(table)} characters with a homophone heard at least {args.min_count} times, from {len(rows)} utterances")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
