"""A loss-tolerant jitter buffer for incoming Opus audio (replaces aiortc's for the caller's track).

aiortc's audio buffer (16 packets, prefetch 4) releases a packet only when the next four are all
present, so on a lossy link it stalls for the whole buffer at every hole and then discards what it
held: at 30% loss the caller's speech arrives in rare bursts and the call goes deaf. Here a hole
is given up on as soon as ``patience`` newer packets have arrived, and every packet that did
arrive is decoded, in order; the cost is ``patience`` x 20 ms of delay on reordered packets.
"""

from __future__ import annotations

from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add, uint16_gt

AUDIO_CAPACITY = 16
PATIENCE_PACKETS = 2


class LossTolerantAudioJitterBuffer(JitterBuffer):
    """One Opus packet is one frame; holes older than ``patience`` packets are skipped."""

    def __init__(self, capacity: int = AUDIO_CAPACITY, patience: int = PATIENCE_PACKETS) -> None:
        super().__init__(capacity=capacity, prefetch=0)
        self._patience = patience
        self._newest: int | None = None
        self.skipped = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._newest is None or uint16_gt(packet.sequence_number, self._newest):
            self._newest = packet.sequence_number
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
