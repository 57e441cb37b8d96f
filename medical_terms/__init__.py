"""Medical lexicons (data with sources), term correction and number normalisation.

The pipeline calls, on each final transcript::

    corrector = TermCorrector()          # once: loads about 19k terms and a jieba tokenizer
    fixed = corrector.correct(text, context).text
    fixed = normalize_numbers(fixed, context)

and passes ``hotwords(flow)`` to Whisper to bias decoding towards the flow's vocabulary.
"""

from medical_terms.blood_pressure import read_blood_pressure
from medical_terms.confidence import Confidence, WordConfidence, correct_heard
from medical_terms.correction import Change, CorrectionResult, CorrectorSettings, TermCorrector
from medical_terms.hotwords import hotword_flows, hotwords, with_answer_hints
from medical_terms.lexicon import Lexicon, Term
from medical_terms.numbers import normalize_numbers
from medical_terms.numerals import DIGITS, NUMERAL, RANGE_DIGITS, parse_number, spoken_number, to_number
from medical_terms.phonetics import toneless

__all__ = [
    "DIGITS",
    "NUMERAL",
    "RANGE_DIGITS",
    "Change",
    "Confidence",
    "CorrectionResult",
    "CorrectorSettings",
    "Lexicon",
    "Term",
    "TermCorrector",
    "WordConfidence",
    "correct_heard",
    "hotword_flows",
    "hotwords",
    "with_answer_hints",
    "normalize_numbers",
    "parse_number",
    "read_blood_pressure",
    "spoken_number",
    "to_number",
    "toneless",
]
