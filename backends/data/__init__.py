"""Seed data of the embedded store (see README.md for sources)."""
