"""Triage benchmark: vignettes through the real triage dialogue, rules-only or with an LLM plugged in."""
