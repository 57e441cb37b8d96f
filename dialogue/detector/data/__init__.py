"""Package data of the learned detector: ``bank.npz``, ``thresholds.json`` and ``manifest.json``,
written by ``python -m dialogue.detector.build`` from the project's triage vignettes (Apache-2.0
medvoice data, no patient data; the manifest lists the files and their hashes)."""
