"""How the call's VAD is tuned for turn-taking: segments close after a short pause so transcripts
arrive while the caller is still mid-turn (the turn itself ends by ``EndOfTurnPolicy``, 0.45-2.2 s),
and speech onset is confirmed fast enough for barge-in. ``SileroVAD`` is the model, loaded once."""

from __future__ import annotations

import copy
from pathlib import Path

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams

# Segments close after this pause; the turn itself ends by EndOfTurnPolicy (0.45-2.2 s).
VAD_STOP_S = 0.2
VAD_START_S = 0.1
# pipecat's default 0.6 gates on loudness over a 400 ms rolling window, smoothed: speech onset was
# confirmed 320 ms late (barge-in and resumed speech both wait on it); at 0.2 with a 0.1 s start
# it is 120 ms. Silero's confidence (0.7) still has to agree, so quiet noise does not pass.
VAD_MIN_VOLUME = 0.2


def call_vad_params() -> VADParams:
    """The VAD parameters of a call."""
    return VADParams(start_secs=VAD_START_S, stop_secs=VAD_STOP_S, min_volume=VAD_MIN_VOLUME)


class SileroVAD:
    """The silero VAD ONNX model, loaded once from a located file and shared by every call.

    Each call gets its own analyser (``analyzer``) with its own model state over the one ONNX
    session: pipecat's ``SileroVADAnalyzer()`` would load the copy inside the pipecat wheel again
    for every call, whatever model the service located and reports.

    Args:
        model_path: ``ModelLocator(...).silero_vad()``.
    """

    def __init__(self, model_path: Path) -> None:
        if not Path(model_path).is_file():
            raise ValueError(f"silero VAD model {model_path} does not exist; run 'medvoice models prepare'")
        self.model_path = Path(model_path)
        self._model = SileroOnnxModel(str(model_path), force_onnx_cpu=True)

    def analyzer(self, params: VADParams | None = None) -> SileroVADAnalyzer:
        """A call's VAD analyser (``call_vad_params()`` unless given) on the shared session."""
        return _SharedSessionAnalyzer(self._model, params or call_vad_params())


class _SharedSessionAnalyzer(SileroVADAnalyzer):
    """``SileroVADAnalyzer`` (pipecat-ai 1.14.0) with its model state over a shared ONNX session
    instead of a session of its own; ``tests/test_turn_taking.py`` pins the attributes it sets."""

    def __init__(self, model: SileroOnnxModel, params: VADParams) -> None:
        VADAnalyzer.__init__(self, sample_rate=None, params=params)
        self._model = copy.copy(model)  # the session is shared; the state arrays are this call's
        self._model.reset_states()
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
