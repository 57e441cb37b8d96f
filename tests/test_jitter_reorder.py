"""The caller's audio jitter buffer on a path that reorders: 200 +- 200 ms of jitter (uniform, as
``tc netem delay 200ms 200ms``) reorders 20 ms packets by up to 20. The buffer must learn to wait
for them and still release every packet that arrived, in order; on an orderly path it must go back
to its short wait (2 packets, 40 ms). ``python -m evals.reliability --parts netem`` measures the
whole call over such a path."""

from __future__ import annotations

import random

from aiortc.rtp import RtpPacket

from transport.jitter import PATIENCE_PACKETS, LossTolerantAudioJitterBuffer


def _packet(seq: int) -> RtpPacket:
    packet = RtpPacket(sequence_number=seq % 65536, timestamp=(seq * 320) % 2**32)
    packet._data = b"opus"
    return packet


def test_reordered_packets_are_waited_for_and_released_in_order() -> None:
    draw = random.Random(22)
    sent = range(65000, 65000 + 1500)  # 30 s of 20 ms packets, across the 16-bit wrap
    arrivals = sorted((i * 0.020 + 0.2 + draw.uniform(-0.2, 0.2), seq) for i, seq in enumerate(sent))
    buffer, released = LossTolerantAudioJitterBuffer(), []
    for _, seq in arrivals:
        _, frame = buffer.add(_packet(seq))
        if frame is not None:
            released.append(frame.timestamp)
    assert released == sorted(released, key=lambda t: (t - released[0]) % 2**32), "released out of order"
    assert len(released) >= 0.95 * len(sent), f"only {len(released)} of {len(sent)} packets released"
    assert buffer.patience > PATIENCE_PACKETS


def test_patience_comes_back_down_on_an_orderly_path() -> None:
    buffer = LossTolerantAudioJitterBuffer()
    for seq in (100, 105, 101, 102, 103, 104):  # one packet overtaken by four
        buffer.add(_packet(seq))
    assert buffer.patience >= 5
    for seq in range(106, 106 + 50 * 10):  # 10 s in order
        buffer.add(_packet(seq))
    assert buffer.patience == PATIENCE_PACKETS
