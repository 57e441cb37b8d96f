"""Mandarin prompts as data, with variety: each key has several wordings, picked without repeats.

Prompts live in ``dialogue/data/prompts/<flow>.json`` as ``{"key": ["variant", ...]}``; variants use
``str.format`` fields (``{who}``). A seeded RNG per call keeps tests reproducible while callers still
hear natural variation.
"""

from __future__ import annotations

import json
import random
from functools import cache
from importlib import resources
from typing import Any


class Phrasebook:
    """Picks and fills prompt variants for one call.

    Args:
        prompts: ``{"key": ["variant", ...]}``.
        seed: RNG seed (use the call id) so a call is reproducible.
    """

    def __init__(self, prompts: dict[str, list[str]], seed: str | int = 0) -> None:
        self._prompts = prompts
        self._rng = random.Random(seed)
        self._last: dict[str, str] = {}
        self.defaults: dict[str, Any] = {}
        """Fields every prompt may use (e.g. ``who``), overridden by ``say``'s own fields."""

    @classmethod
    def for_flow(cls, flow: str, seed: str | int = 0) -> Phrasebook:
        """The phrasebook of ``flow`` (shared ``common`` prompts merged under it)."""
        return cls({**_load("common"), **_load(flow)}, seed)

    def has(self, key: str) -> bool:
        return key in self._prompts

    def say(self, key: str, **fields: Any) -> str:
        """One variant of ``key`` (never the same as last time when there is a choice), filled in.

        Raises:
            KeyError: ``key`` is not in the phrasebook (names the known keys).
        """
        try:
            variants = self._prompts[key]
        except KeyError:
            raise KeyError(f"prompt {key!r} not in the phrasebook; known: {sorted(self._prompts)}") from None
        choices = [v for v in variants if v != self._last.get(key)] or variants
        variant = self._rng.choice(choices)
        self._last[key] = variant
        return variant.format(**{**self.defaults, **fields})


@cache
def _load(name: str) -> dict[str, list[str]]:
    path = resources.files("dialogue.data").joinpath("prompts", f"{name}.json")
    data = json.loads(path.read_text("utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}
