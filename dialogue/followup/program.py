"""The follow-up programmes as data: ``dialogue/followup/data/programs.json`` loaded into :class:`Program`.

A programme names its question order, the form's symptom options, value ranges, control targets and
danger criteria; the flow code knows no programme-specific numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

PROGRAMS = ("hypertension", "diabetes")


@dataclass(frozen=True)
class DangerSymptom:
    code: str
    name: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Program:
    """One chronic-care programme's call script and rules (see the module docstring)."""

    id: str
    name: str
    questionnaire: str
    condition_codes: tuple[str, ...]
    questions: tuple[str, ...]
    symptoms: tuple[dict[str, str], ...]
    complication_symptoms: frozenset[str]
    ranges: dict[str, tuple[float, float]]
    target: dict[str, float]
    danger: dict[str, float]
    danger_symptoms: tuple[DangerSymptom, ...]
    advice: dict[str, str]

    @property
    def measurement(self) -> str:
        """The question that carries the programme's key value."""
        return "blood_pressure" if self.id == "hypertension" else "glucose"

    @classmethod
    def load(cls, program: str) -> Program:
        """The packaged programme ``program``.

        Raises:
            ValueError: ``program`` is not one of :data:`PROGRAMS`.
        """
        if program not in PROGRAMS:
            raise ValueError(f"follow-up programme {program!r} is unknown; use one of {', '.join(PROGRAMS)}")
        return _load(program)


@cache
def _load(program: str) -> Program:
    data: dict[str, Any] = json.loads(
        resources.files("dialogue.followup.data").joinpath("programs.json").read_text("utf-8")
    )
    raw = data[program]
    danger = {k: float(v) for k, v in raw["danger"].items() if k != "symptoms"}
    return Program(
        id=program,
        name=raw["name"],
        questionnaire=raw["questionnaire"],
        condition_codes=tuple(raw["condition_codes"]),
        questions=tuple(raw["questions"]),
        symptoms=tuple(raw["symptoms"]),
        complication_symptoms=frozenset(raw["complication_symptoms"]),
        ranges={k: (float(v[0]), float(v[1])) for k, v in raw["ranges"].items()},
        target={k: float(v) for k, v in raw["target"].items()},
        danger=danger,
        danger_symptoms=tuple(
            DangerSymptom(s["code"], s["name"], re.compile(s["pattern"])) for s in raw["danger"]["symptoms"]
        ),
        advice=dict(data["advice"]),
    )
