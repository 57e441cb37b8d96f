"""Second blind follow-up calls (k-series): scored separately, never opened for tuning (see README.md)."""
