"""The smart-turn v3 end-of-turn model (ONNX, shipped in the pipecat wheel), run directly.

Input: the turn's audio (16 kHz float32, the last 8 s are used); output: the probability that
the speaker has finished. On Mandarin it is a weak signal on its own (it judged many complete
rendered sentences incomplete and many clause pauses complete), so ``end_of_turn`` only uses it
to shorten the wait when the transcript's words agree.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features

SAMPLE_RATE = 16000
_WINDOW_S = 8


class SmartTurnModel:
    """One ONNX session, shared by all calls (runs are serialised; each takes ~20-60 ms on CPU),
    and the threads that run it beside the final decode (``submit``); ``close`` stops them.

    Args:
        model_path: ``ModelLocator(...).smart_turn()``.
        threads: Intra-op threads for onnxruntime.
    """

    def __init__(self, model_path: Path, *, threads: int = 1) -> None:
        if not Path(model_path).is_file():
            raise ValueError(f"smart-turn model {model_path} does not exist; run 'medvoice models prepare'")
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(model_path), sess_options=options)
        self._lock = threading.Lock()
        # Runs beside the final decode; the lock serialises the runs themselves.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="turn-model")

    def probability(self, audio: np.ndarray) -> float:
        """P(turn complete) for the turn audio ending now (blocking: run it off the event loop)."""
        window = SAMPLE_RATE * _WINDOW_S
        audio = np.asarray(audio, dtype=np.float32)[-window:]
        if len(audio) < window:
            audio = np.pad(audio, (window - len(audio), 0))
        features = compute_whisper_log_mel_features(audio, do_normalize=True)[np.newaxis]
        with self._lock:
            output = self._session.run(None, {"input_features": features})
        return float(np.asarray(output[0]).reshape(-1)[0])

    def submit(self, audio: np.ndarray) -> Future:
        """Start ``probability(audio)`` in the model's threads; the future holds the result."""
        return self._pool.submit(self.probability, audio)

    def close(self) -> None:
        """Stop the model's threads (runs not yet started are cancelled)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
