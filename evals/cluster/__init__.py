"""The cluster benchmark (``python -m evals.cluster``) and its scripted patient phones."""
