"""A learned red-flag detector that can only add to the rules.

Per red-flag code, a kNN "margin": the best cosine to a training utterance (or clause) with that code
minus the best cosine to one with no red flag, averaged over three scorers (character 1-3-gram TF-IDF,
multilingual-e5-small, Universal Sentence Encoder multilingual v3), maximised over the utterance and
its clauses, against a per-code threshold chosen by leave-one-out on the training vignettes. The
exemplar bank is built offline (``python -m dialogue.detector.build``) and shipped in ``data/``.

Clinical safety stays with the rules (:mod:`dialogue.safety`): this detector's hits are only ever
added to theirs, never used to clear or lower one.
"""

from dialogue.detector.bank import ExemplarBank
from dialogue.detector.clauses import scoring_units, split_clauses
from dialogue.detector.detector import SOURCE, LearnedHit, LearnedRedFlagDetector

__all__ = ["SOURCE", "ExemplarBank", "LearnedHit", "LearnedRedFlagDetector", "scoring_units", "split_clauses"]
