"""The agent's audio writes that a WebRTC peer which has left would otherwise hold for 10 s.

pipecat's ``RawAudioTrack.add_audio_bytes`` returns a future that only the track's ``recv()``
resolves, and only aiortc's RTP sender calls ``recv()``. Once the peer connection closes nothing
does, so the output transport's write waits out ``audio_out_write_timeout_secs`` (10 s). A cancel
cannot cut that short when the flow was already ending the call: pipecat queues the CancelFrame
behind the EndFrame, and the EndFrame's ``stop()`` waits for that write. So a caller who hung up
during the goodbye kept the call and its peer slot for 10 s, and an ICE-restart reconnect in the
middle of a reply left the agent mute until the timeout wrote the output transport off.
"""

from __future__ import annotations

from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import RawAudioTrack, SmallWebRTCTransport


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
    queue = track._chunk_queue
    while queue:
        _, future = queue.popleft()
        if future is not None and not future.done():
            future.set_result(False)  # not sent; pipecat only awaits it
