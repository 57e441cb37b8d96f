"""The clinical concept layer shared by every flow: body sites, symptoms and signs, descriptors,
durations, substances, events, devices and readings, people, pregnancy, history and intent, each with
many surface forms (lay, regional, metaphorical, misheard), as data with sources.

    matcher = ConceptMatcher.load()
    for mention in matcher.find("俺娘心口窝疼了快半个钟头了，没有出冷汗"):
        mention.concept, mention.negated, mention.subject   # ("site.chest", False, "person.parent")...

Red flags (dialogue/safety.py) are rules over these concept ids; see README.md for the ids.
"""

from medical_terms.concepts.lexicon import load_concepts, people_lexicon
from medical_terms.concepts.matcher import GAP, ConceptMatcher
from medical_terms.concepts.model import CATEGORIES, Concept, Mention
from medical_terms.concepts.negation import is_negated
from medical_terms.concepts.readers import (
    ages,
    blood_pressures,
    device_readings,
    durations,
    heart_rates,
    number,
    temperatures,
)
from medical_terms.concepts.subjects import Named, Subjects

__all__ = [
    "CATEGORIES",
    "GAP",
    "Concept",
    "ConceptMatcher",
    "Mention",
    "Named",
    "Subjects",
    "ages",
    "blood_pressures",
    "device_readings",
    "durations",
    "heart_rates",
    "is_negated",
    "load_concepts",
    "number",
    "people_lexicon",
    "temperatures",
]
