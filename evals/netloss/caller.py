"""A scripted WebRTC caller (aiortc) for tests and benchmarks: speaks rendered PCM on an Opus audio
track, receives the agent's audio and the data-channel events, and can drop a share of its packets
in both directions to model a lossy network.

Loss is injected in the caller's ICE transport (every DTLS/SRTP/SCTP datagram after the call is
connected), so media, events and their retransmissions all see it, as on a real lossy link.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from transport.jitter import use_loss_tolerant_audio

SAMPLE_RATE = 16000
FRAME_SAMPLES = 320  # 20 ms
# Agent audio above this RMS (int16) counts as speech, below as comfort silence.
SPEECH_RMS = 300.0


class CallerAudioTrack(MediaStreamTrack):
    """The caller's microphone: queued utterances, silence in between, paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[np.ndarray] = deque()
        self._start: float | None = None
        self._pts = 0
        self._starting = False
        self.speech_started_at: float | None = None  # monotonic time the first queued frame went out
        self.speech_ended_at: float | None = None  # monotonic time the last queued frame went out

    def play(self, pcm: np.ndarray) -> float:
        """Queue int16 16 kHz speech; returns its duration in seconds."""
        self._starting = not self._queue
        for i in range(0, len(pcm), FRAME_SAMPLES):
            chunk = pcm[i : i + FRAME_SAMPLES]
            self._queue.append(np.pad(chunk, (0, FRAME_SAMPLES - len(chunk))))
        self.speech_ended_at = None
        return len(pcm) / SAMPLE_RATE

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._pts / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self._queue:
            samples = self._queue.popleft()
            if self._starting:
                self._starting = False
                self.speech_started_at = time.monotonic()
            if not self._queue:
                self.speech_ended_at = time.monotonic()
        else:
            samples = np.zeros(FRAME_SAMPLES, np.int16)
        frame = AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame


@dataclass
class LossStats:
    sent: int = 0
    dropped_out: int = 0
    received: int = 0
    dropped_in: int = 0


class PacketLoss:
    """Drops ``rate`` of datagrams each way on an aiortc ICE transport (seeded, reproducible)."""

    def __init__(self, rate: float, seed: int = 7) -> None:
        if not 0 <= rate < 1:
            raise ValueError(f"loss rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.stats = LossStats()
        self._random = random.Random(seed)
        self.active = False

    def install(self, ice_transport: Any) -> None:
        send, recv = ice_transport._send, ice_transport._recv

        async def lossy_send(data: bytes) -> None:
            self.stats.sent += 1
            if self.active and self._random.random() < self.rate:
                self.stats.dropped_out += 1
                return
            await send(data)

        async def lossy_recv() -> bytes:
            while True:
                data = await recv()
                self.stats.received += 1
                if self.active and self._random.random() < self.rate:
                    self.stats.dropped_in += 1
                    continue
                return data

        ice_transport._send, ice_transport._recv = lossy_send, lossy_recv


def frame_rms(frame: AudioFrame) -> float:
    """Root mean square of a decoded frame's int16 samples (all channels)."""
    samples = frame.to_ndarray().astype(np.float32)
    return float(np.sqrt(np.mean(samples**2)))


@dataclass
class WebRTCCall:
    """A live call: send speech with ``say``, wait on events, read what arrived.

    ``on_event(time, event)`` and ``on_audio(time, rms)``, when set, see each data-channel event
    and each decoded agent frame as it arrives (after it has been recorded here).
    """

    pc: RTCPeerConnection
    mic: CallerAudioTrack
    pc_id: str
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    agent_speech: list[tuple[float, float]] = field(default_factory=list)  # (monotonic time, rms)
    agent_frames: int = 0
    loss: PacketLoss | None = None
    on_event: Callable[[float, dict[str, Any]], None] | None = None
    on_audio: Callable[[float, float], None] | None = None

    def texts(self, role: str) -> list[str]:
        return [e["text"] for _, e in self.events if e.get("type") == "transcript" and e.get("role") == role
                and e.get("final", True)]

    def speech_frames_after(self, moment: float) -> int:
        return sum(1 for t, rms in self.agent_speech if t >= moment and rms >= SPEECH_RMS)

    def first_speech_after(self, moment: float) -> float | None:
        return next((t for t, rms in self.agent_speech if t >= moment and rms >= SPEECH_RMS), None)

    async def wait_for(self, predicate, timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (events and audio both count); False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def speak(self, pcm: np.ndarray) -> tuple[float, float]:
        """Speak; returns (start, end): when the first frame left and when its last sample was due."""
        duration = self.mic.play(pcm)
        await asyncio.sleep(duration)
        deadline = time.monotonic() + 5.0
        while self.mic.speaking or self.mic.speech_ended_at is None:
            if time.monotonic() > deadline or self.pc.connectionState != "connected":
                raise ConnectionError(f"the call ended while the caller spoke (state {self.pc.connectionState})")
            await asyncio.sleep(0.01)
        assert self.mic.speech_started_at is not None  # set with the first frame, before the last
        return self.mic.speech_started_at, self.mic.speech_started_at + duration

    async def say(self, pcm: np.ndarray) -> float:
        """Speak and return the moment the last frame left (monotonic)."""
        await self.speak(pcm)
        assert self.mic.speech_ended_at is not None
        return self.mic.speech_ended_at

    async def wait_agent_quiet(self, quiet_s: float = 1.0, timeout: float = 30.0) -> bool:
        """Wait until the agent has spoken and then been silent for ``quiet_s``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = next((t for t, rms in reversed(self.agent_speech) if rms >= SPEECH_RMS), None)
            if last is not None and time.monotonic() - last >= quiet_s:
                return True
            await asyncio.sleep(0.05)
        return False

    async def hang_up(self) -> None:
        channel = getattr(self, "channel", None)
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps({"type": "hangup"}))
            await asyncio.sleep(0.2)
        self.mic.stop()
        await self.pc.close()


async def _open(
    base_url: str, mic: CallerAudioTrack, body: dict[str, Any], timeout_s: float, call: WebRTCCall | None
) -> WebRTCCall:
    pc = RTCPeerConnection()
    pc.addTrack(mic)
    channel = pc.createDataChannel("events", ordered=True)
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers all candidates here
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s) as http:
        response = await http.post("/api/offer", json={"sdp": pc.localDescription.sdp, "type": "offer", **body})
    if response.status_code != 200:
        await pc.close()
        raise RuntimeError(f"offer refused: HTTP {response.status_code} {response.text}")
    answer = response.json()
    if call is None:
        call = WebRTCCall(pc=pc, mic=mic, pc_id=answer["pc_id"])
    call.pc, call.pc_id = pc, answer["pc_id"]
    call.channel = channel  # type: ignore[attr-defined]

    @channel.on("message")
    def on_message(message: str) -> None:
        arrived, event = time.monotonic(), json.loads(message)
        call.events.append((arrived, event))
        if call.on_event is not None:
            call.on_event(arrived, event)

    @pc.on("track")
    def on_track(track) -> None:
        async def read() -> None:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                arrived, rms = time.monotonic(), frame_rms(frame)
                call.agent_frames += 1
                call.agent_speech.append((arrived, rms))
                if call.on_audio is not None:
                    call.on_audio(arrived, rms)

        asyncio.ensure_future(read())

    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
    # Browsers conceal lost packets (NetEQ); this keeps the scripted caller from going deaf instead.
    use_loss_tolerant_audio(pc.getTransceivers()[0].receiver)
    deadline = time.monotonic() + timeout_s
    while pc.connectionState != "connected":
        if time.monotonic() > deadline or pc.connectionState in ("failed", "closed"):
            await pc.close()
            raise RuntimeError(f"WebRTC did not connect within {timeout_s} s (state {pc.connectionState})")
        await asyncio.sleep(0.05)
    return call


async def connect(
    base_url: str,
    flow: str = "triage",
    *,
    loss_rate: float = 0.0,
    seed: int = 7,
    timeout_s: float = 15.0,
    options: dict[str, str] | None = None,
) -> WebRTCCall:
    """Offer, answer and wait until media flows. ``loss_rate`` starts once connected; ``options``
    (program, patient, encounter, token) go into the offer as the page sends them."""
    call = await _open(base_url, CallerAudioTrack(), {"flow": flow, **(options or {})}, timeout_s, None)
    if loss_rate:
        call.loss = PacketLoss(loss_rate, seed)
        call.loss.install(call.pc.getTransceivers()[0].sender.transport.transport)
        call.loss.active = True
    return call


async def reconnect(base_url: str, call: WebRTCCall, timeout_s: float = 15.0) -> WebRTCCall:
    """The caller's network failed: resume the same call on a new peer connection (``restart_pc``),
    as the page does when its connection fails. The old one is closed only after the service has
    swapped it out, as a dead network would never deliver its close alert."""
    old = call.pc
    call.mic = CallerAudioTrack()  # closing a peer connection ends the tracks it sent
    await _open(base_url, call.mic, {"pc_id": call.pc_id, "restart_pc": True}, timeout_s, call)
    await old.close()
    return call
