"""Moved to :mod:`evals.speech` (shared by the follow-up, dictation and triage benchmarks); kept so
older imports work."""

from evals.speech import Heard, Hearing, SpeechPath, add_speech_arguments, asr_metrics, data_file

__all__ = ["Heard", "Hearing", "SpeechPath", "add_speech_arguments", "asr_metrics", "data_file"]
