"""Keypad digits: RFC 4733 telephone events and SIP INFO (both reach ``CallLeg.onDtmfDigit``) become
pipecat ``InputDTMFFrame``s, which the conversation step (``agent.conversation``) reads like a
caller's turn: 0 asks for a human at any time, 1/2 answer yes/no, and digits answer a question
asked digit by digit."""

from __future__ import annotations

from pipecat.audio.dtmf.types import KeypadEntry

_ENTRIES = {entry.value: entry for entry in KeypadEntry}


def keypad_entry(digit: str) -> KeypadEntry | None:
    """The keypad entry of a DTMF digit (``0``-``9``, ``*``, ``#``); None for A-D and anything else."""
    return _ENTRIES.get(digit)
