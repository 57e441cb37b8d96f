"""Barge-in: is caller speech during agent speech a real interruption?

The agent's audio is paused the moment the caller starts speaking (fast: the caller hears the
agent stop), and this policy then decides on the interim transcript and the speech duration:

* words that are only a backchannel (嗯, 对, 好的, 是的, 哦, 啊) -> resume the agent;
* no words at all (a cough, a door, line noise) once the caller is quiet again -> resume;
* any other words, or speech longer than ``interrupt_after_s`` -> interrupt: the agent's audio
  and the reply in flight are dropped and the caller's turn is answered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from turntaking import cues


class BargeInDecision(enum.Enum):
    WAIT = "wait"  # not enough evidence yet: keep the agent paused
    RESUME = "resume"  # backchannel or noise: the agent goes on where it paused
    INTERRUPT = "interrupt"  # a real interruption


@dataclass(frozen=True)
class BargeInSettings:
    """Thresholds of the barge-in policy.

    Parameters:
        interrupt_after_s: Caller speech this long is an interruption whatever its words
            (backchannels last 0.2-0.6 s).
        max_backchannel_s: A backchannel-looking transcript longer than this still interrupts.
    """

    interrupt_after_s: float = 1.0
    max_backchannel_s: float = 1.2

    def __post_init__(self) -> None:
        if not 0.2 <= self.interrupt_after_s <= 5:
            raise ValueError(f"interrupt_after_s must be within 0.2-5 s, got {self.interrupt_after_s}")
        if self.max_backchannel_s < 0.2:
            raise ValueError(f"max_backchannel_s must be at least 0.2 s, got {self.max_backchannel_s}")


class BargeInPolicy:
    """Decides what caller speech during agent speech means."""

    def __init__(self, settings: BargeInSettings | None = None) -> None:
        self.settings = settings or BargeInSettings()

    def while_speaking(self, speech_s: float) -> BargeInDecision:
        """The caller is still speaking after ``speech_s`` seconds (no transcript yet)."""
        return BargeInDecision.INTERRUPT if speech_s >= self.settings.interrupt_after_s else BargeInDecision.WAIT

    def on_transcript(self, text: str, speech_s: float) -> BargeInDecision:
        """The caller paused; ``text`` is the transcript of what they said (``""``: no words)."""
        if not cues.core(text):
            return BargeInDecision.RESUME
        if cues.is_backchannel(text) and speech_s <= self.settings.max_backchannel_s:
            return BargeInDecision.RESUME
        return BargeInDecision.INTERRUPT
