"""Blind triage vignettes (data only): scored and reported separately, never used for tuning."""
