"""Loading the concept data files (``data/*.json``) into :class:`~medical_terms.concepts.model.Concept`s."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from medical_terms.concepts.model import CATEGORIES, Concept

DATA_FILES = (
    "body_sites.json", "symptoms.json", "signs.json", "diagnoses.json", "descriptors.json", "substances.json", "events.json",
    "devices.json", "people.json", "pregnancy.json", "history.json", "intent.json", "time.json",
)
# Concepts produced by readers (code), listed so rules can be checked against known ids.
READER_CONCEPTS = (
    Concept("dur.minutes", "duration", "持续时间（分钟）", source="readers.durations"),
    Concept("reading.spo2", "reading", "血氧饱和度读数", source="readers.device_readings"),
    Concept("reading.glucose", "reading", "血糖仪读数", source="readers.device_readings"),
    Concept("reading.bp_systolic", "reading", "收缩压读数", source="readers.blood_pressures"),
    Concept("reading.bp_diastolic", "reading", "舒张压读数", source="readers.blood_pressures"),
    Concept("reading.age_days", "reading", "小儿年龄（天）", source="readers.ages"),
    Concept("reading.heart_rate", "reading", "心率读数", source="readers.heart_rates"),
    Concept("reading.temperature", "reading", "体温读数", source="readers.temperatures"),
)


@cache
def load_concepts() -> tuple[Concept, ...]:
    """Every concept of the packaged data files, then the reader concepts.

    Raises:
        ValueError: A concept id is repeated or its category is unknown (names the file).
    """
    concepts: list[Concept] = []
    seen: set[str] = set()
    folder = resources.files("medical_terms.concepts.data")
    for name in DATA_FILES:
        data = json.loads(folder.joinpath(name).read_text("utf-8"))
        default_source = data["source"]
        for raw in data["concepts"]:
            category = raw.get("category", data["category"])
            if category not in CATEGORIES or raw["id"] in seen:
                raise ValueError(f"{name}: concept {raw['id']!r} repeated or category {category!r} unknown")
            seen.add(raw["id"])
            concepts.append(
                Concept(
                    id=raw["id"],
                    category=category,
                    label=raw["label"],
                    forms=tuple(raw.get("forms", ())),
                    patterns=tuple(raw.get("patterns", ())),
                    not_in=tuple(raw.get("not_in", ())),
                    pinyin=raw.get("pinyin", True),
                    pinyin_forms=tuple(raw.get("pinyin_forms", ())),
                    event=raw.get("event", False),
                    source=raw.get("source", default_source),
                )
            )
    return (*concepts, *READER_CONCEPTS)


@cache
def people_lexicon() -> dict[str, Any]:
    """The people data file (``data/people.json``) as read: its person concepts with the relation, age
    group, sex and newborn ages their words imply, the age thresholds and the words for old age. The one
    home of the people lexicon; ``dialogue.people`` reads the patient from it."""
    data: dict[str, Any] = json.loads(resources.files("medical_terms.concepts.data").joinpath("people.json")
                                      .read_text("utf-8"))
    return data
