"""Turn-taking for Mandarin calls: when the caller's turn is over, and when caller speech during
agent speech is a real interruption rather than a backchannel.

* ``cues``: text cues in an interim transcript (backchannels, trailing 然后/还有/就是/那个,
  unfinished numbers, sentence-final particles).
* ``smart_turn``: the smart-turn v3 ONNX model (shipped in the pipecat wheel) on the turn's audio.
* ``end_of_turn``: combines silence, cues and the model into how long to wait before the turn ends.
* ``barge_in``: decides, from the interim transcript and the speech duration, whether to stop the agent.
* ``playout``: the pipeline processor that paces agent audio and pauses/resumes/drops it.
"""

from dialogue.turntaking.barge_in import BargeInDecision, BargeInPolicy, BargeInSettings
from dialogue.turntaking.end_of_turn import EndOfTurnPolicy, EndOfTurnSettings, TurnCall

__all__ = [
    "BargeInDecision",
    "BargeInPolicy",
    "BargeInSettings",
    "EndOfTurnPolicy",
    "EndOfTurnSettings",
    "TurnCall",
]
