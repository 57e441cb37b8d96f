"""The contract between the call pipeline and a conversation flow.

A ``Dialogue`` is one conversation (one call). The pipeline feeds it final caller utterances and
silence events; it answers with ``Reply`` chunks (one sentence each, so TTS can start on the first
while later ones are still being produced, e.g. by a streaming LLM). Flows are free to keep any
state; the pipeline only reads ``Reply`` and ``snapshot()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from medical_terms.confidence import Confidence


@dataclass(frozen=True)
class Reply:
    """One sentence the agent says.

    Parameters:
        text: Mandarin text to speak (already safe: rules have vetted it).
        end_call: True on the last sentence of the call; the pipeline hangs up after playing it.
        meta: Structured state for UIs and records (``level``, ``red_flags``, ``department``,
            ``handoff`` ...). Never logged: it may hold patient data.
    """

    text: str
    end_call: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


class Dialogue(ABC):
    """One conversation of one flow. Subclasses implement the three coroutines-generators."""

    flow: str = ""

    @abstractmethod
    def open(self) -> AsyncIterator[Reply]:
        """The agent's first words (greeting and first question)."""

    @abstractmethod
    def handle(self, utterance: str, confidence: Confidence | None = None) -> AsyncIterator[Reply]:
        """Answer one whole caller turn (final transcript after term correction).

        ``confidence``: how sure the recogniser was of each word of ``utterance`` and which words
        term correction wrote (None: not measured, e.g. typed text)."""

    @abstractmethod
    def handle_silence(self) -> AsyncIterator[Reply]:
        """The caller said nothing (or nothing intelligible): re-prompt once, then end politely."""

    async def hangup(self) -> None:  # noqa: B027 - optional hook
        """The caller hung up before the flow ended the call (save partial answers). Default: nothing."""

    def heard(self, spoken: str, played: str) -> None:  # noqa: B027 - optional hook
        """Barge-in: of the reply ``spoken``, the caller heard only ``played``. Default: ignore."""

    def asr_hints(self) -> str | None:
        """Words the caller's next answer is expected to use (Whisper hotwords), or None. Default: None."""
        return None

    def expects_digits(self) -> bool:
        """Whether the open question asks for a number digit by digit (the decoder then writes digits
        only; a telephony transport may take the keypad's digits as the answer). Default: False."""
        return False

    async def human_requested(self) -> AsyncIterator[Reply]:
        """The caller asked for a person without words (the telephone keypad's 0, at any time): queue
        the flow's hand-off and say what happened; the call goes on (a telephony transport may then
        transfer it live). Default: nothing said, no hand-off."""
        return
        yield  # pragma: no cover - makes this an async generator

    def keypad_answer(self, digit: str) -> str | None:
        """What a keypad digit (other than 0) answers to the open question, as the caller's words,
        or None to ignore it. Default: 1 是的 / 2 不是 (the flows read them as yes and no where a
        question asks for one; elsewhere they are handled like those words)."""
        return {"1": "是的", "2": "不是"}.get(digit)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view of the flow state for the page and the records (may hold patient data)."""
        return {"flow": self.flow}
