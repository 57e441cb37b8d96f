"""Medical ASR benchmark: raw vs corrected recognition, numbers, and short-window vs stock latency."""
