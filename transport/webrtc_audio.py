"""The agent's audio in pipecat's WebRTC output track: held for a barge-in, released when the peer leaves.

pipecat's ``RawAudioTrack`` queues what the output transport writes and plays it 10 ms at a time;
``add_audio_bytes`` returns a future that only the track's ``recv()`` resolves, and only aiortc's
RTP sender calls ``recv()``. Two things follow:

* When the playout gate pauses the agent for a barge-in, the audio already in the track still
  plays: 25-55 ms of speech after the pause (4 barge-ins, measured at the track). ``TrackHold``
  keeps the unplayed chunks in a stash while the track plays silence (what the writer adds
  joins the stash); ``resume`` puts them back in front, so a false interruption goes on with no
  syllable lost, and ``drop`` discards them (a real interruption, the end of the call).
* Once the peer connection closes nothing plays the track, so the output transport's write
  waits out ``audio_out_write_timeout_secs`` (10 s). A cancel cannot cut that short when the
  flow was already ending the call: pipecat queues the CancelFrame behind the EndFrame, and the
  EndFrame's ``stop()`` waits for that write. So a caller who hung up during the goodbye kept the
  call and its peer slot for 10 s; ``release_audio_writes_when_peer_leaves`` ends that.

The track's queue is pipecat's private ``_chunk_queue`` (pipecat-ai 1.14.0): a deque of
(10 ms of bytes, the future a writer awaits or None); ``tests/test_track_hold.py`` pins that shape.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import RawAudioTrack, SmallWebRTCTransport

from transport.capabilities import AudioOutput

Chunk = tuple[bytes, Any]  # (10 ms of audio, the asyncio.Future its writer awaits, or None)


def release_audio_writes_when_peer_leaves(transport: SmallWebRTCTransport) -> None:
    """Release every pending write to the call's outgoing audio track once nobody will play it.

    A track is released when its sender stops (the peer connection closed, or was replaced by an
    ICE-restart reconnect), and all tracks once the caller's connection has closed. The last
    release is needed because the client keeps writing to an ended track until the connection
    state reads ``closed``.
    """
    tracks: list[RawAudioTrack] = []

    @transport.event_handler("on_client_connected")
    async def _connected(_transport: SmallWebRTCTransport, connection: SmallWebRTCConnection) -> None:
        transceivers = connection.pc.getTransceivers()
        # pipecat attaches the new output track to the first sender just before this event.
        track = transceivers[0].sender.track if transceivers else None
        if not isinstance(track, RawAudioTrack) or track in tracks:
            return
        # Kept after it ends: a write may still land on it before the connection reads closed.
        tracks.append(track)
        if track.readyState == "ended":
            _release(track)
        else:
            track.on("ended", lambda: _release(track))

    @transport.event_handler("on_client_disconnected")
    async def _disconnected(_transport: SmallWebRTCTransport, _connection: SmallWebRTCConnection) -> None:
        for track in tracks:
            _release(track)
        tracks.clear()


def _release(track: RawAudioTrack) -> None:
    # The futures are reachable only through the track's queue of (10 ms chunk, future).
    _release_writers(track._chunk_queue)
    track._chunk_queue.clear()


def _release_writers(chunks: Iterable[Chunk]) -> None:
    for _chunk, future in chunks:
        if future is not None and not future.done():
            future.set_result(False)  # not sent; pipecat only awaits it


class TrackHold:
    """Pause, resume or drop what ``track()`` (the current output track, or None) has queued."""

    def __init__(self, track: Callable[[], RawAudioTrack | None]) -> None:
        self._track = track
        self._held: RawAudioTrack | None = None
        self._stash: deque[Chunk] = deque()

    @property
    def holding(self) -> bool:
        return self._held is not None

    def pause(self) -> None:
        """Silence the track now, keeping what it had not played."""
        track = self._track()
        if track is None or self._held is not None:
            return
        self._held = track
        self._take(track)
        add = type(track).add_audio_bytes

        def add_while_held(audio_bytes: bytes) -> Any:
            future = add(track, audio_bytes)
            self._take(track)
            return future

        track.add_audio_bytes = add_while_held  # type: ignore[method-assign]  # held per call, released on resume

    def resume(self) -> None:
        """Play what was held, before anything written from now on."""
        track = self._unhold()
        if track is None or track is not self._track():
            self.drop()  # the peer reconnected meanwhile: the old track plays nothing more
            return
        track._chunk_queue.extendleft(reversed(self._stash))
        self._stash.clear()

    def drop(self) -> None:
        """Discard what was held, and what the track has queued, and release their writer."""
        self._unhold()
        track = self._track()
        if track is not None:
            self._take(track)
        _release_writers(self._stash)
        self._stash.clear()

    def _take(self, track: RawAudioTrack) -> None:
        self._stash.extend(track._chunk_queue)
        track._chunk_queue.clear()

    def _unhold(self) -> RawAudioTrack | None:
        track, self._held = self._held, None
        if track is not None:
            del track.add_audio_bytes  # back to the class's method
        return track


def webrtc_output_track(transport: SmallWebRTCTransport) -> Callable[[], RawAudioTrack | None]:
    """The output track of a ``SmallWebRTCTransport`` as it is now (it is made once the peer
    connects, and again after a reconnect)."""
    return lambda: getattr(getattr(transport, "_client", None), "_audio_output_track", None)


def webrtc_audio_output(transport: SmallWebRTCTransport) -> AudioOutput:
    """A WebRTC call's output: a track played in real time, whose queue ``TrackHold`` can hold."""
    return AudioOutput(realtime=True, queued=TrackHold(webrtc_output_track(transport)))
