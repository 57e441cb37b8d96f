"""The latency benchmark's WebRTC caller: ``ScriptedCall`` over aiortc (Opus and a data channel).

It places the call with ``evals.netloss.caller.connect`` (the same aiortc caller the WebRTC tests
use): the rendered 16 kHz speech goes out on a real-time paced audio track, silence in between,
and the agent's decoded frames and data-channel events are timestamped as they arrive.

A WebRTC track never pauses: the service sends silence while the agent is quiet. So a received
frame counts as agent audio only when its RMS reaches ``AGENT_AUDIO_RMS``; quiet frames are not
recorded in ``received.audio``, so "first agent audio" means the same as on the WebSocket, where
only the agent's speech is sent. The voice's clause pauses are silent too, hence a longer
``stop_gap_s`` before agent audio counts as stopped.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from evals.latency.caller import ScriptedCall
from evals.netloss.caller import WebRTCCall, connect

# int16 RMS of a decoded 20 ms frame at and above which it is agent speech. Opus decodes the
# service's silence to exact zeros; the voice's syllables measure hundreds to thousands.
AGENT_AUDIO_RMS = 30.0


class RtcLiveCall(ScriptedCall):
    """One WebRTC call to the service at ``base_url`` (http://host:port) on ``flow``."""

    # The voice pauses 0.2-0.35 s (digital zeros) between clauses; on WebRTC those arrive as the
    # same silence as a stopped agent, so only a longer gap means the agent stopped.
    stop_gap_s = 0.45

    def __init__(self, base_url: str, flow: str, *, audio_rms: float = AGENT_AUDIO_RMS) -> None:
        super().__init__()
        self.base_url = base_url
        self.flow = flow
        self.audio_rms = audio_rms
        self.silent_frames = 0  # received agent frames below ``audio_rms`` (not agent audio)
        self._call: WebRTCCall | None = None

    async def __aenter__(self) -> Self:
        call = await connect(self.base_url, self.flow)
        # Nothing awaits between replaying what arrived during the connect and hooking in, so
        # no frame or event is missed or counted twice.
        for arrived, event in call.events:
            self._on_event(arrived, event)
        for arrived, rms in call.agent_speech:
            self._on_audio(arrived, rms)
        call.on_event, call.on_audio = self._on_event, self._on_audio

        @call.pc.on("connectionstatechange")
        def _state() -> None:
            if call.pc.connectionState in ("failed", "closed"):
                self.ended.set()

        self._call = call
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._call is not None:
            await self._call.hang_up()
        self.ended.set()

    async def speak(self, pcm: np.ndarray) -> tuple[float, float]:
        """Play ``pcm`` on the microphone track; (start, end) of its real-time send."""
        if self._call is None:
            raise RuntimeError("speak() before the call was placed; use `async with RtcLiveCall(...)`")
        try:
            return await self._call.speak(pcm)
        except ConnectionError:
            self.ended.set()
            raise

    def _on_event(self, arrived: float, event: dict[str, Any]) -> None:
        self.received.events.append({**event, "_t": arrived})
        if event.get("type") == "end":
            self.ended.set()

    def _on_audio(self, arrived: float, rms: float) -> None:
        if rms >= self.audio_rms:
            self.received.audio.append(arrived)
        else:
            self.silent_frames += 1

