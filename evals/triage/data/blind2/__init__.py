"""Second blind triage vignettes (m-batch): scored separately, never opened for tuning (see README.md)."""
