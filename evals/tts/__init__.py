"""TTS benchmark: readings, polyphones, Whisper round trip, time to first audio, real-time factor."""
