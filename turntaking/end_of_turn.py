"""When the caller's turn is over: how long a silence to wait after the caller stops speaking.

The VAD closes a segment after a short pause and the turn so far is transcribed; this policy
reads that transcript (and optionally the smart-turn probability) and answers how much silence,
counted from the caller's end of speech, ends the turn:

* the words end in a connective or an open number (我这个头疼啊，就是 / 血压一百八十): the caller
  is not done, wait ``unfinished_s`` (a thinking pause of 1.5 s must not cut them off);
* the words end as a question (吗/吧, a question mark) and the model agrees strongly:
  ``confident_s``. Not 了: it closes clauses as often as sentences (我爸爸七十八岁了，｜最近老是
  忘事, a 0.49 s pause, was cut in two by this wait), and the model agreed there too;
* the model is nearly sure the caller is not done and the words do not end like a sentence:
  ``hesitant_s``, which outlasts a thinking pause. Whisper often mishears the connective a
  caller trails off on, and may even close it with a full stop (我想问一下就熟。); the cues
  catch its usual forms by sound (就熟, 纳肯), not the rarer ones (我还有那个 -> 我还有捣骨);
  on rendered speech smart-turn gave such trailing fragments 0.01-0.11 and 19 of 22 complete
  utterances more than 0.15;
* otherwise ``default_s``, just longer than a Mandarin clause pause (0.3-0.6 s), so that
  我孩子发烧39度，已经吃过退烧药了 stays one turn.

If the caller speaks again before the wait is over, the turn simply continues.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from turntaking import cues


@dataclass(frozen=True)
class EndOfTurnSettings:
    """Silence (seconds after the caller's end of speech) that ends a turn, by what the words say.

    Parameters:
        confident_s: Words end as a question and smart-turn agrees (>= ``model_complete``).
        default_s: No cue either way; longer than a clause pause.
        unfinished_s: Words end in a connective or open number.
        hesitant_s: smart-turn below ``model_unfinished`` and no final particle in the words.
        model_complete: smart-turn probability counted as agreement.
        model_unfinished: smart-turn probability under which the caller is taken as not done.
    """

    confident_s: float = 0.45
    default_s: float = 0.62
    unfinished_s: float = 2.2
    hesitant_s: float = 1.8
    model_complete: float = 0.9
    model_unfinished: float = 0.15

    def __post_init__(self) -> None:
        if not 0 < self.confident_s <= self.default_s <= self.unfinished_s <= 10:
            raise ValueError(
                "need 0 < confident_s <= default_s <= unfinished_s <= 10, got "
                f"{self.confident_s}, {self.default_s}, {self.unfinished_s}"
            )
        if not self.default_s <= self.hesitant_s <= 10:
            raise ValueError(f"need default_s <= hesitant_s <= 10, got {self.default_s}, {self.hesitant_s}")
        if not 0 <= self.model_unfinished <= self.model_complete <= 1:
            raise ValueError(
                "need 0 <= model_unfinished <= model_complete <= 1, got "
                f"{self.model_unfinished}, {self.model_complete}"
            )


@dataclass(frozen=True)
class TurnCall:
    """The policy's answer: wait this long in silence, then end the turn (``reason`` for metrics)."""

    wait_s: float
    reason: str


class EndOfTurnPolicy:
    """Maps (transcript so far, smart-turn probability) to the silence that ends the turn."""

    def __init__(self, settings: EndOfTurnSettings | None = None) -> None:
        self.settings = settings or EndOfTurnSettings()

    def decide(self, text: str, complete_probability: Callable[[], float] | None = None) -> TurnCall:
        """``complete_probability`` (smart-turn on the turn audio) is not run when the words
        already settle it (a connective, an open number, a backchannel)."""
        s = self.settings
        if cues.ends_unfinished(text):
            return TurnCall(s.unfinished_s, "unfinished_words")
        if cues.is_backchannel(text):
            return TurnCall(s.confident_s, "backchannel")
        if complete_probability is None:
            return TurnCall(s.default_s, "default")
        probability = complete_probability()
        final_words = cues.ends_final(text)
        if cues.ends_question(text) and probability >= s.model_complete:
            return TurnCall(s.confident_s, "question_and_model")
        if probability < s.model_unfinished and not final_words:
            return TurnCall(s.hesitant_s, "model_unfinished")
        return TurnCall(s.default_s, "default")

    def wait(self, text: str, complete_probability: Callable[[], float] | None = None) -> tuple[float, str]:
        """``decide`` as (wait seconds, reason): the end-of-turn processor's ``TurnDecider``."""
        call = self.decide(text, complete_probability)
        return call.wait_s, call.reason
