"""Whisper hotwords per conversation flow, from ``data/hotwords.json``.

faster-whisper puts hotwords in the decoder prompt, so the list is short (the prompt shares the
decoder's 448-token window) and ordered by how often the flow's callers say the term.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

MAX_HOTWORDS = 40


@cache
def _flows() -> dict[str, list[str]]:
    text = resources.files("medical_terms.data").joinpath("hotwords.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {name: list(terms) for name, terms in data["flows"].items()}


def hotword_flows() -> list[str]:
    """The flow names with their own hotword list (others get ``default``)."""
    return sorted(_flows())


def hotwords(flow: str | None = None) -> str:
    """Space-separated hotwords for ``flow`` (``triage``, ``followup_hypertension``, ``dictation``...).

    A flow name made of known parts (``followup_diabetes``) gets their lists, the most specific
    (last) part first; any other name, or None, gets the ``default`` list, which also fills up
    every other list.
    """
    flows = _flows()
    parts = sorted((name for name in flows if name != "default" and flow and name in flow),
                   key=lambda name: -(flow or "").index(name))
    chosen: list[str] = []
    for name in [*parts, "default"]:
        chosen.extend(term for term in flows[name] if term not in chosen)
    return " ".join(chosen[:MAX_HOTWORDS])


def with_answer_hints(hints: str | None, flow_hotwords: str | None) -> str | None:
    """The dialogue's expected answer words ahead of the flow's hotwords (short answers such as
    没有 or 偶尔 need them most), as one hotword string, or None when there are none."""
    return " ".join(filter(None, [hints, flow_hotwords])) or None
