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

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view of the flow state for the page and the records (may hold patient data)."""
        return {"flow": self.flow}
