"""A loss-tolerant jitter buffer for incoming Opus audio (replaces aiortc's for the caller's track).

aiortc's audio buffer (16 packets, prefetch 4) releases a packet only when the next four are all
present, so on a lossy link it stalls for the whole buffer at every hole and then discards what it
held: at 30% loss the caller's speech arrives in rare bursts and the call goes deaf. Here a hole
is given up on as soon as ``patience`` newer packets have arrived, and every packet that did
arrive is decoded, in order; the cost is ``patience`` x 20 ms of delay on reordered packets.

The patience adapts to the path, as a browser's NetEQ adapts its delay: it starts at 2 packets and
rises to the deepest reordering seen (a packet arriving ``n`` sequence numbers behind the newest,
or after its hole was given up on), decaying by one packet per second of orderly arrivals. On a
path with 200 +- 200 ms of jitter (packets reorder by up to 20) a fixed patience of 2 gave up on
most packets as holes and dropped them when they came late: the caller's speech was not heard at
all (``python -m evals.reliability --parts netem``).
"""

from __future__ import annotations

from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add, uint16_gt

AUDIO_CAPACITY = 64  # 1.28 s of 20 ms packets: room for the deepest reordering we wait for
PATIENCE_PACKETS = 2
MAX_PATIENCE_PACKETS = 32  # at most 640 ms of added delay
DECAY_PACKETS = 50  # orderly packets (1 s) before the patience comes down by one


class LossTolerantAudioJitterBuffer(JitterBuffer):
    """One Opus packet is one frame; holes older than ``patience`` packets are skipped."""

    def __init__(self, capacity: int = AUDIO_CAPACITY, patience: int = PATIENCE_PACKETS,
                 max_patience: int = MAX_PATIENCE_PACKETS) -> None:
        super().__init__(capacity=capacity, prefetch=0)
        self._min_patience = patience
        self._max_patience = min(max_patience, capacity - 1)
        self._patience = patience
        self._orderly = 0
        self._newest: int | None = None
        self.skipped = 0
        self.late = 0

    @property
    def patience(self) -> int:
        """Packets newer than a hole that must arrive before the hole is given up on."""
        return self._patience

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        sequence = packet.sequence_number
        if self._newest is None or uint16_gt(sequence, self._newest):
            self._newest = sequence
            self._orderly += 1
            if self._orderly >= DECAY_PACKETS and self._patience > self._min_patience:
                self._patience -= 1
                self._orderly = 0
        else:
            depth = uint16_add(self._newest, -sequence)
            if depth < self._capacity:
                late = self._origin is not None and uint16_gt(self._origin, sequence)
                self.late += late
                # a late packet shows the hole was given up too soon: wait one more packet than that
                self._patience = max(self._patience, min(self._max_patience, depth + 1 + late))
                self._orderly = 0
        return super().add(packet)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        assert self._origin is not None and self._newest is not None
        while (
            self._packets[self._origin % self._capacity] is None
            and uint16_add(self._newest, -self._origin) >= self._patience
        ):
            self._origin = uint16_add(self._origin, 1)
            self.skipped += 1
        packet = self._packets[self._origin % self._capacity]
        if packet is None:
            return None
        self._packets[self._origin % self._capacity] = None
        self._origin = uint16_add(self._origin, 1)
        # the receiver sets _data (the depayloaded payload) on the packet; aiortc's own buffer reads it too
        return JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


def use_loss_tolerant_audio(receiver: Any) -> None:
    """Swap the jitter buffer of an aiortc audio ``RTCRtpReceiver`` (aiortc has no setting for it)."""
    if getattr(receiver, "_RTCRtpReceiver__kind", None) == "audio":
        receiver._RTCRtpReceiver__jitter_buffer = LossTolerantAudioJitterBuffer()
