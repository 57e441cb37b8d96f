"""Eval data for the TTS benchmark (agent prompts with expected readings and polyphone pinyin)."""
