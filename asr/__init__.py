"""Speech recognition: faster-whisper services, hotword biasing, hallucination guards."""
