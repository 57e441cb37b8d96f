"""Lexicon data files (sources and licences in data/SOURCES.md)."""
