"""Negation scope for caller speech: is a matched symptom said to be absent ("没有胸痛")?

The rules live with the concept layer (:mod:`medical_terms.concepts.negation`), so every flow and the
concept matcher share one scope; this module keeps the dialogue package's import path.
"""

from __future__ import annotations

from medical_terms.concepts.negation import is_negated

__all__ = ["is_negated"]
