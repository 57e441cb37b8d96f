"""The WebSocket call protocol: binary frames are audio, text frames are JSON messages.

Client -> server
  1. ``{"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1}`` (required first)
  2. binary frames: 16 kHz mono signed 16-bit little-endian PCM, any length up to ``MAX_AUDIO_BYTES``
     (20 ms = 640 bytes is typical), even-sized
  3. ``{"type": "hangup"}`` to end the call (closing the socket works too)

Server -> client
  - ``{"type": "ready", "call_id": ..., "flow": ..., "sample_rate": 16000, ...}`` after a valid start
  - binary frames: the agent's voice, same format, paced in real time
  - ``{"type": "transcript", "role": "caller"|"agent", "text": ..., "final": true}``
  - ``{"type": "state", ...}`` flow state (triage level, red flags, department ...)
  - ``{"type": "silence"}``, ``{"type": "end", "reason": ...}``
  - ``{"type": "error", "code": ..., "message": ...}`` then, for fatal errors, close code 1003/1008/1009
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipecat.frames.frames import (
    CancelWorkerFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.serializers.base_serializer import FrameSerializer

SAMPLE_RATE = 16000
ENCODING = "pcm_s16le"
CHANNELS = 1
MAX_AUDIO_BYTES = 64000  # 2 s of audio in one message is plenty; larger frames are refused
MAX_TEXT_BYTES = 4096


class ProtocolError(ValueError):
    """The client broke the protocol. ``code`` is machine-readable; the message says what was expected."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def as_message(self) -> dict[str, str]:
        return {"type": "error", "code": self.code, "message": str(self)}


@dataclass(frozen=True)
class AudioFormat:
    sample_rate: int = SAMPLE_RATE
    encoding: str = ENCODING
    channels: int = CHANNELS


def parse_start(raw: str | bytes) -> AudioFormat:
    """Validate the client's first message; raises ``ProtocolError`` naming what was expected."""
    if isinstance(raw, bytes):
        raise ProtocolError(
            "start_required",
            'the first message must be a JSON text frame {"type":"start","sample_rate":16000,'
            '"encoding":"pcm_s16le","channels":1}, got binary data',
        )
    message = _parse_json(raw)
    if message.get("type") != "start":
        raise ProtocolError("start_required", f'expected a "start" message first, got type {message.get("type")!r}')
    got = AudioFormat(
        sample_rate=message.get("sample_rate", SAMPLE_RATE),
        encoding=message.get("encoding", ENCODING),
        channels=message.get("channels", CHANNELS),
    )
    if got != AudioFormat():
        raise ProtocolError(
            "unsupported_audio_format",
            f"audio must be {SAMPLE_RATE} Hz, {ENCODING}, {CHANNELS} channel; got {got.sample_rate} Hz, "
            f"{got.encoding}, {got.channels} channel(s). Resample on the client.",
        )
    return got


def _parse_json(raw: str) -> dict[str, Any]:
    # surrogatepass: a str with a lone surrogate (no UTF-8 frame carries one, a caller of this function
    # may) is measured, not a UnicodeEncodeError.
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise ProtocolError("message_too_large", f"text messages are limited to {MAX_TEXT_BYTES} bytes")
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"text frames must be JSON objects: {exc.msg} at char {exc.pos}") from exc
    except RecursionError as exc:
        # 4 KB of "[" nests deeper than the JSON decoder's recursion limit: a RecursionError
        # escaped the handshake and ended the connection with no error message.
        raise ProtocolError("bad_json", "text frames must be JSON objects; this one nests too deeply") from exc
    if not isinstance(message, dict):
        raise ProtocolError("bad_json", "text frames must be JSON objects")
    return message


class MedvoiceWsSerializer(FrameSerializer):
    """Maps protocol messages to pipecat frames and back (after the start handshake)."""

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, OutputAudioRawFrame):
            return frame.audio
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            return json.dumps(frame.message, ensure_ascii=False)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            if isinstance(data, bytes):
                return InputAudioRawFrame(audio=self._check_audio(data), sample_rate=SAMPLE_RATE, num_channels=1)
            message = _parse_json(data)
        except ProtocolError as exc:
            # Goes straight through the pipeline to the output transport: the client hears why.
            return OutputTransportMessageUrgentFrame(message=exc.as_message())
        if message.get("type") == "hangup":
            return CancelWorkerFrame(reason="caller hung up")
        return OutputTransportMessageUrgentFrame(
            message=ProtocolError("unknown_message", f"unknown message type {message.get('type')!r}").as_message()
        )

    @staticmethod
    def _check_audio(data: bytes) -> bytes:
        if len(data) > MAX_AUDIO_BYTES:
            raise ProtocolError(
                "audio_frame_too_large", f"audio frames are limited to {MAX_AUDIO_BYTES} bytes, got {len(data)}"
            )
        if len(data) % 2:
            raise ProtocolError("bad_audio", f"16-bit PCM needs an even number of bytes, got {len(data)}")
        return data
