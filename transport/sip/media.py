"""The media port bridge: a PJSUA2 ``AudioMediaPort`` on the conference bridge between a call's
audio stream and the pipeline, 16 kHz mono, 20 ms frames.

PJSIP's conference clock (the null sound device's) calls the port every 20 ms on its own thread:
``onFrameReceived`` hands the caller's frame to the event loop (``call_soon_threadsafe``) and
``onFrameRequested`` takes the agent's next frame from a thread-safe deque, or plays silence.
Neither waits on anything. The deque is the transport's output queue: the output transport keeps
it a few frames ahead of real time, and ``OutgoingAudio`` holds, resumes or drops it for a barge-in
(``transport.capabilities.QueuedAudio``). The jitter buffer is the call stream's own (PJMEDIA's
adaptive one, set in ``endpoint``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

import pjsua2 as pj

from transport.sip.codec import BRIDGE_CLOCK_RATE, FRAME_BYTES, FRAME_MS, SILENCE, frame_bytes

logger = logging.getLogger("medvoice.sip")


HOLE_FRAMES = 10  # a shorter silence between two audio frames is a hole, not a pause of speech


class OutgoingAudio:
    """The agent's 20 ms frames waiting for the conference clock; pause/resume/drop for barge-in."""

    def __init__(self) -> None:
        self._frames: deque[bytes] = deque()
        self._held: deque[bytes] | None = None
        self._lock = threading.Lock()
        self._partial = b""
        self.played_frames = 0
        self.underrun_frames = 0
        """Silence played inside the agent's speech: holes under ``HOLE_FRAMES`` between audio frames
        (the event loop fell behind the conference clock)."""
        self._silence_run = 0

    def write(self, audio: bytes) -> int:
        """Queue ``audio`` (any length) as 20 ms frames; returns how many whole frames it added."""
        data = self._partial + audio
        whole = len(data) - len(data) % FRAME_BYTES
        self._partial = data[whole:]
        frames = [data[i : i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES)]
        with self._lock:
            (self._held if self._held is not None else self._frames).extend(frames)
        return len(frames)

    def flush(self) -> None:
        """Queue a trailing partial frame, padded with silence."""
        if self._partial:
            self.write(bytes(FRAME_BYTES - len(self._partial)))

    def next_frame(self) -> bytes:
        """The frame to play now (PJSIP's clock thread): the next queued one, or silence."""
        with self._lock:
            if self._held is None and self._frames:
                self.played_frames += 1
                if 0 < self._silence_run < HOLE_FRAMES:
                    self.underrun_frames += self._silence_run
                self._silence_run = 0
                return self._frames.popleft()
            if self.played_frames and self._held is None:
                self._silence_run += 1
        return SILENCE

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._frames) + (len(self._held) if self._held is not None else 0)

    def pause(self) -> None:
        """Play silence from now, keeping what was not played."""
        with self._lock:
            if self._held is None:
                self._held = self._frames
                self._frames = deque()

    def resume(self) -> None:
        """Play what was held, before anything written since."""
        with self._lock:
            if self._held is not None:
                self._held.extend(self._frames)
                self._frames, self._held = self._held, None

    def drop(self) -> None:
        """Discard everything queued or held."""
        with self._lock:
            self._frames.clear()
            self._held = None
            self._partial = b""


class MediaBridge(pj.AudioMediaPort):
    """One call's port on the conference bridge (create, connect and destroy on the PJSIP thread).

    Args:
        on_frame: Receives each 20 ms caller frame (16 kHz int16 bytes); must not block.
        outgoing: Where the agent's frames come from.
    """

    def __init__(self, name: str, on_frame: Callable[[bytes], None], outgoing: OutgoingAudio) -> None:
        super().__init__()
        self._on_frame = on_frame
        self._outgoing = outgoing
        self.frames_in = 0
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = BRIDGE_CLOCK_RATE
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = FRAME_MS * 1000
        self.createPort(name, fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                self.frames_in += 1
                self._on_frame(frame_bytes(frame.buf))
        except Exception:  # an exception must never reach PJSIP's clock thread
            logger.exception("SIP media port: incoming frame dropped")

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        try:
            audio = self._outgoing.next_frame()
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = pj.ByteVector(audio)
            frame.size = len(audio)
        except Exception:
            logger.exception("SIP media port: outgoing frame dropped")
