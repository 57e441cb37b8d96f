"""Holding the WebRTC output track with the playout gate: on pipecat's real ``RawAudioTrack``, the
agent falls silent on the next 10 ms frame, a resume plays every held chunk in order, and an
interruption discards them and releases the writer waiting on them."""

from __future__ import annotations

import numpy as np
from pipecat.frames.frames import InterruptionFrame, TTSAudioRawFrame
from pipecat.tests.utils import SleepFrame, run_test
from pipecat.transports.smallwebrtc.transport import RawAudioTrack

from transport.webrtc_audio import TrackHold
from turntaking.playout import PlayoutGate

RATE = 16000
CHUNK_SAMPLES = RATE // 100


def _chunks(*values: int) -> bytes:
    """10 ms chunks of constant samples, one per value (a value tells the chunks apart)."""
    return np.concatenate([np.full(CHUNK_SAMPLES, v, np.int16) for v in values]).tobytes()


async def _played(track: RawAudioTrack, frames: int) -> list[int]:
    """The first sample of each of the next ``frames`` frames the track plays (0: silence)."""
    return [int((await track.recv()).to_ndarray()[0, 0]) for _ in range(frames)]


async def test_the_track_has_a_queue_of_chunks_and_writer_futures():
    # TrackHold relies on pipecat's private queue; a pipecat upgrade that changes it fails here.
    track = RawAudioTrack(RATE)
    future = track.add_audio_bytes(_chunks(1, 2))
    assert [chunk for chunk, _ in track._chunk_queue] == [_chunks(1), _chunks(2)]
    assert [f for _, f in track._chunk_queue] == [None, future]


async def test_a_paused_track_plays_silence_and_resumes_with_every_held_chunk_in_order():
    track = RawAudioTrack(RATE)
    hold = TrackHold(lambda: track)
    track.add_audio_bytes(_chunks(1, 2, 3))
    assert await _played(track, 1) == [1]
    hold.pause()
    written_while_paused = track.add_audio_bytes(_chunks(4))
    assert await _played(track, 3) == [0, 0, 0]
    assert not written_while_paused.done()  # the writer waits, as for audio not yet played
    hold.resume()
    assert await _played(track, 4) == [2, 3, 4, 0]
    assert written_while_paused.done()


async def test_dropping_a_hold_discards_the_audio_and_releases_its_writer():
    track = RawAudioTrack(RATE)
    hold = TrackHold(lambda: track)
    writer = track.add_audio_bytes(_chunks(1, 2))
    hold.pause()
    hold.drop()
    assert writer.done()
    assert await _played(track, 2) == [0, 0]
    track.add_audio_bytes(_chunks(5))  # the next reply plays normally
    assert await _played(track, 1) == [5]


async def test_a_resume_after_the_peer_reconnected_drops_what_the_old_track_held():
    old, new = RawAudioTrack(RATE), RawAudioTrack(RATE)
    current = [old]
    hold = TrackHold(lambda: current[0])
    writer = old.add_audio_bytes(_chunks(1))
    hold.pause()
    current[0] = new
    hold.resume()
    assert writer.done() and not old._chunk_queue and not new._chunk_queue


async def test_a_hold_without_a_track_yet_does_nothing():
    hold = TrackHold(lambda: None)
    hold.pause()
    hold.resume()
    hold.drop()
    assert not hold.holding


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    def drop(self) -> None:
        self.calls.append("drop")


async def test_the_gate_holds_the_output_with_it_and_drops_it_on_an_interruption():
    output = _Recorder()
    gate = PlayoutGate(output_hold=output)
    gate.pause()
    gate.resume()
    gate.pause()
    audio = [TTSAudioRawFrame(b"\x00\x01" * 640, RATE, 1, context_id="c1") for _ in range(3)]
    await run_test(gate, frames_to_send=[*audio, SleepFrame(sleep=0.1), InterruptionFrame(), SleepFrame(sleep=0.1)])
    assert output.calls[:4] == ["pause", "resume", "pause", "drop"]
