"""Blind follow-up calls: scored separately, never opened for tuning (see README.md)."""
