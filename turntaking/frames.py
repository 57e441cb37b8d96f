"""The frames turn-taking's processors coordinate through, and tell the rest of the call with.

No processor holds a reference to another: the barge-in processor asks the playout gate to pause
or resume by sending a frame down the pipeline, the gate says upstream whether agent audio is
waiting to play, and the end-of-turn and barge-in processors tell the conversation what happened
(a turn ended, a barge-in state changed, a final transcript was only feedback) as frames it can
turn into client events and metrics.

Pause, resume and the gate's state are system frames: they must not wait behind the TTS's queue.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pipecat.frames.frames import DataFrame, SystemFrame, TranscriptionFrame

from asr.service import Confidence


@dataclass
class PausePlayoutFrame(SystemFrame):
    """Downstream, to the playout gate: hold agent audio now (a barge-in candidate spoke)."""


@dataclass
class ResumePlayoutFrame(SystemFrame):
    """Downstream, to the playout gate: play held agent audio from the first unplayed chunk."""


@dataclass
class PlayoutPendingFrame(SystemFrame):
    """Upstream, from the playout gate: whether agent audio is waiting in it to be played.

    Agent audio counts as audible while it is waiting too (paused, or not yet released), so that
    caller speech then is a barge-in candidate even before the transport says the bot speaks.
    """

    pending: bool


class BargeInState(enum.Enum):
    PAUSED = "paused"  # the caller spoke over the agent: its audio is held
    RESUMED = "resumed"  # a backchannel or a noise: the agent goes on
    INTERRUPTED = "interrupted"  # a real interruption: the agent's reply is dropped


@dataclass
class BargeInFrame(SystemFrame):
    """Downstream, from the barge-in processor: a barge-in changed state.

    Parameters:
        state: What happened.
        reason: Why it resumed or interrupted (``words``, ``long``, ``no_words``, ``final``), or
            ``speech`` for a pause.
        pause_s: For a pause: the caller's speech onset to the agent's audio pausing, seconds.
    """

    state: BargeInState
    reason: str
    pause_s: float | None = None


@dataclass
class BackchannelFrame(DataFrame):
    """Downstream, in place of a final transcript that was feedback (嗯, 好的) spoken while the
    agent talked: not a turn, not to be answered."""

    text: str


@dataclass
class HeardTranscriptionFrame(TranscriptionFrame):
    """A caller turn's final transcript with how sure the recogniser was of each word.

    Parameters:
        confidence: Per-word probabilities over ``text`` (and, after term correction, which words it
            wrote); None when the decoder did not measure them.
    """

    confidence: Confidence | None = None


@dataclass
class TurnEndedFrame(SystemFrame):
    """Downstream, just before a turn's final transcript: when the caller stopped speaking.

    Parameters:
        speech_end: The caller's end of speech, ``time.monotonic()`` seconds.
        wait_s: The silence the end-of-turn policy waited for.
        reason: The policy's reason for that wait.
    """

    speech_end: float
    wait_s: float
    reason: str
