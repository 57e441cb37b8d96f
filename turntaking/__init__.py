"""Turn-taking for Mandarin calls: when the caller's turn is over, when caller speech during agent
speech is a real interruption rather than a backchannel, and how agent audio is paused for it.

* ``cues``: text cues in an interim transcript (backchannels, trailing 然后/还有/就是/那个,
  unfinished numbers, sentence-final particles).
* ``voicing``: when the caller was last audible, frame by frame (the end of speech, a restart the
  VAD has not confirmed yet).
* ``smart_turn``: the smart-turn v3 ONNX model (shipped in the pipecat wheel) on the turn's audio.
* ``vad``: how the call's VAD is tuned for turn-taking.
* ``end_of_turn``: combines silence, cues and the model into how long to wait before the turn ends;
  ``end_of_turn_processor``: the pipeline step that collects the turn, has it decoded (``asr``)
  and ends it.
* ``barge_in``: decides, from the interim transcript and the speech duration, whether to stop the
  agent; ``barge_in_processor``: the pipeline step that pauses, resumes or interrupts the agent.
* ``playout``: the pipeline processor that paces agent audio and pauses/resumes/drops it.
* ``frames``: the frames these processors coordinate through.

May import only ``asr``'s interfaces (and pipecat).
"""

from turntaking.barge_in import BargeInDecision, BargeInPolicy, BargeInSettings
from turntaking.barge_in_processor import BargeInProcessor
from turntaking.end_of_turn import EndOfTurnPolicy, EndOfTurnSettings, TurnCall
from turntaking.end_of_turn_processor import EndOfTurnProcessor, TurnDecider, TurnScorer, TurnTiming
from turntaking.frames import (
    BackchannelFrame,
    BargeInFrame,
    BargeInState,
    HeardTranscriptionFrame,
    PausePlayoutFrame,
    PlayoutPendingFrame,
    ResumePlayoutFrame,
    TurnEndedFrame,
)
from turntaking.playout import OutputHold, PlayoutGate, playout_lead_s
from turntaking.smart_turn import SmartTurnModel
from turntaking.vad import VAD_START_S, VAD_STOP_S, SileroVAD, call_vad_params
from turntaking.voicing import VoicingClock, VoicingSettings

__all__ = [
    "VAD_START_S",
    "VAD_STOP_S",
    "BackchannelFrame",
    "BargeInDecision",
    "BargeInFrame",
    "BargeInPolicy",
    "BargeInProcessor",
    "BargeInSettings",
    "BargeInState",
    "EndOfTurnPolicy",
    "EndOfTurnProcessor",
    "EndOfTurnSettings",
    "HeardTranscriptionFrame",
    "OutputHold",
    "PausePlayoutFrame",
    "PlayoutGate",
    "PlayoutPendingFrame",
    "ResumePlayoutFrame",
    "SileroVAD",
    "SmartTurnModel",
    "TurnCall",
    "TurnDecider",
    "TurnEndedFrame",
    "TurnScorer",
    "TurnTiming",
    "VoicingClock",
    "VoicingSettings",
    "call_vad_params",
    "playout_lead_s",
]
