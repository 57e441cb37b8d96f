"""What a caller asks of the service itself rather than says about their health: a person.

Shared by the engine (crisis mode) and the flows (triage offers, emergencies), so every flow hears
"转人工" the same way.
"""

from __future__ import annotations

import re

__all__ = ["wants_human"]

_HUMAN = re.compile(r"转人工|人工|真人|护士|医生接|找人|工作人员|客服|转接")
_DECLINES_HUMAN = re.compile(r"不(用|要|需要)(转)?人工")


def wants_human(text: str) -> bool:
    """The caller asks for a person (and does not decline one: "不用转人工")."""
    return bool(_HUMAN.search(text)) and not _DECLINES_HUMAN.search(text)
