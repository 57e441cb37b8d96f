"""The spoken-number readers as one fuzz target: :func:`check_text` runs every reader of numbers and
measured values on a text and raises ``AssertionError`` when an invariant breaks (any other exception
is a crash too); :data:`SPOKEN_PIECES` are the pieces generated answers are made of.

``python -m evals.reliability.number_fuzz -runs=N`` runs it under atheris (coverage-guided libFuzzer)
with the readers' modules instrumented; ``evals.reliability.fuzz.run_atheris`` starts it as a child
process, because libFuzzer ends the process when it is done. The property tests
(``tests/test_properties_numbers.py``) hold the same readers to the same invariants with hypothesis.
"""

from __future__ import annotations

import math
import sys

SPOKEN_PIECES: tuple[str, ...] = (
    *"零〇幺一二两三四五六七八九十百千点几多来比度斤",
    "左右", "上下", "出头", "以上", "以下", "快", "将近", "超过", "不到", "差不多",
    "血压", "高压", "低压", "收缩压", "舒张压", "上面的", "下面", "血糖", "空腹", "餐后", "心率", "心跳", "脉搏",
    "体温", "发烧", "烧到", "血氧", "测的", "量的", "显示", "今天", "昨天", "不对", "应该是", "我是说",
    "毫米汞柱", "mmHg", "毫摩尔", "mmol/L", "公斤", "kg", "次", "下", "天", "岁", "片", "%", "百分之", "℃", "°",
    "HI", "LO", "爆表", "/", "B", ".", "，", ",", "、", "。", " ", "的", "是", "有", "大概",
    "0", "1", "2", "5", "9", "38.5", "146", "92", "6.8", "120", "80",
)
"""Numerals, approximations, units, labels, corrections and punctuation callers' answers are made of."""

CONTEXTS = (None, "您最近量的血压是多少？", "空腹血糖是多少？", "体温多少度？", "心率多少？")


def check_text(text: str, context_index: int = 0) -> None:
    """Every number and value reader on ``text``; ``AssertionError`` names the broken invariant."""
    from dialogue import facts
    from dialogue.followup import values
    from dialogue.followup.program import Program
    from medical_terms import normalize_numbers, parse_number, read_blood_pressure, to_number
    from medical_terms.concepts import readers
    from medical_terms.numerals import read_amount, read_count, spoken_amounts, two_way_splits

    for amount in (read_amount(text), read_count(text), *spoken_amounts(text)):
        if amount is not None and not math.isnan(amount.low):
            assert amount.low <= amount.high, f"interval upside down: {amount}"
            assert not amount.exact or amount.low == amount.high, f"exact but an interval: {amount}"
    for first, second in two_way_splits(text[:12]):
        assert first.low <= first.high and second.low <= second.high
    parse_number(text)
    to_number(text)
    normalize_numbers(text, CONTEXTS[context_index % len(CONTEXTS)])

    ranges = {**Program.load("hypertension").ranges, **Program.load("diabetes").ranges}
    pressure = values.read_blood_pressure(text, ranges)
    for name, value in pressure.values.items():
        assert ranges[name][0] <= value <= ranges[name][1], f"{name} {value} out of range and not flagged"
    if pressure.ok:
        assert pressure.values["systolic"] > pressure.values["diastolic"]
    for name, reader in (("glucose", values.read_glucose), ("heart_rate", values.read_heart_rate),
                         ("weight", values.read_weight)):
        reading = reader(text, ranges[name])
        if reading.ok:
            assert ranges[name][0] <= reading.values[name] <= ranges[name][1], f"{name} {reading} not flagged"
    systolic, diastolic = read_blood_pressure(text)
    assert systolic is None or 60 <= systolic <= 300
    assert diastolic is None or 30 <= diastolic <= 200
    for read, low, high in ((facts.read_glucose(text), 0.5, 40.0), (facts.read_heart_rate(text), 20.0, 250.0),
                            (facts.read_temperature(text), 34.0, 43.0)):
        assert read is None or low <= read <= high, f"{read} outside {low}-{high}"
    for concept, _start, _end, value in (*readers.device_readings(text), *readers.heart_rates(text),
                                         *readers.blood_pressures(text)):
        assert not math.isnan(value), concept


def _text_from(data: bytes) -> tuple[str, int]:
    """Half the inputs are pieces of answers chosen by the bytes, half the bytes as text."""
    import atheris

    provider = atheris.FuzzedDataProvider(data)
    context = provider.ConsumeIntInRange(0, len(CONTEXTS) - 1)
    if provider.ConsumeBool():
        return provider.ConsumeUnicodeNoSurrogates(64), context
    count = provider.ConsumeIntInRange(0, 14)
    return "".join(SPOKEN_PIECES[provider.ConsumeIntInRange(0, len(SPOKEN_PIECES) - 1)] for _ in range(count)), context


def _one_input(data: bytes) -> None:
    text, context = _text_from(data)
    check_text(text, context)


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["medical_terms", "dialogue.facts", "dialogue.followup"]):
        import dialogue.facts  # noqa: F401
        import dialogue.followup.values  # noqa: F401
        import medical_terms.numbers  # noqa: F401
        import medical_terms.numerals  # noqa: F401
    check_text("")  # loads the programmes and jieba-free readers once, outside the fuzz loop
    atheris.Setup(sys.argv, _one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
