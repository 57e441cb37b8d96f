"""Medical lexicons (data with sources), term correction and number normalisation.

The pipeline calls, on each final transcript::

    corrector = TermCorrector()          # once: loads about 19k terms and a jieba tokenizer
    fixed = corrector.correct(text, context).text
    fixed = normalize_numbers(fixed, context)

and passes ``hotwords(flow)`` to Whisper to bias decoding towards the flow's vocabulary.
"""

from medical_terms.correction import Change, CorrectionResult, CorrectorSettings, TermCorrector
from medical_terms.hotwords import hotword_flows, hotwords, with_answer_hints
from medical_terms.lexicon import Lexicon, Term
from medical_terms.numbers import normalize_numbers, to_number

__all__ = [
    "Change",
    "CorrectionResult",
    "CorrectorSettings",
    "Lexicon",
    "Term",
    "TermCorrector",
    "hotword_flows",
    "hotwords",
    "with_answer_hints",
    "normalize_numbers",
    "to_number",
]
