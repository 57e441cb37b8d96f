"""Errors raised by the dialogue package."""

from __future__ import annotations


class UnknownFlowError(ValueError):
    """A flow name that this package cannot build."""

    def __init__(self, flow: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown dialogue flow {flow!r}; known flows: {', '.join(known)}")
        self.flow = flow
        self.known = known
