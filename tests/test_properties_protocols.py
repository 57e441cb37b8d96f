"""Property tests of what the service reads off the wire (issue 22): WebSocket control frames, SDP
offers and FHIR JSON bodies. Invariants over generated input:

- any text or bytes a WebSocket client sends is either the start it expects or a ``ProtocolError``
  with a declared code, and mid-call every frame becomes audio or an ``error`` message (never an
  exception that ends the connection with no word);
- any SDP is either taken or refused with a ``SignallingError`` 400; through the real signalling
  route it is answered 200, 400 or 422 within seconds, never 500, and a peer it opens is gone after
  hang-up;
- any JSON body is either a valid FHIR resource or an ``InvalidResourceError`` naming fields, and the
  ``/fhir`` route answers it with 201 or an OperationOutcome 4xx, never 5xx.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from aiortc import RTCPeerConnection
from fastapi import FastAPI
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pipecat.frames.frames import InputAudioRawFrame, OutputTransportMessageUrgentFrame

from agent.records_api import build_records_router
from backends import InvalidResourceError, Principal
from backends.fhir import MODELS, RESOURCE_TYPES, validate
from evals.records.resources import examples, patient
from transport import SignallingError, WebRTCCalls, WebRTCConfig, build_signalling_router, parse_start
from transport.webrtc import check_offer_sdp
from transport.ws_protocol import (
    MAX_AUDIO_BYTES,
    MAX_TEXT_BYTES,
    AudioFormat,
    MedvoiceWsSerializer,
    ProtocolError,
)

START_CODES = {"start_required", "unsupported_audio_format", "bad_json", "message_too_large"}
FRAME_CODES = {"bad_json", "message_too_large", "unknown_message", "audio_frame_too_large", "bad_audio"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
start_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["start", "hangup", "Start", ""]) | st.text(max_size=8)},
    optional={
        "sample_rate": st.sampled_from([16000, 8000, 48000, 16000.0, True, "16000"]) | json_values,
        "encoding": st.sampled_from(["pcm_s16le", "opus", "PCM_S16LE"]) | json_values,
        "channels": st.sampled_from([1, 2, 0, True]) | json_values,
    },
)
text_frames = st.one_of(
    start_like.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.integers(1, 6000).map(lambda depth: "[" * depth),
    st.integers(1, 3000).map(lambda depth: '{"a":' * depth),
    st.integers(MAX_TEXT_BYTES - 8, MAX_TEXT_BYTES + 8).map(lambda n: json.dumps({"type": "start", "x": "a" * n})),
)
frames = st.one_of(text_frames, st.binary(max_size=3000),
                   st.integers(MAX_AUDIO_BYTES - 2, MAX_AUDIO_BYTES + 2).map(lambda n: b"\0" * n))


# -- WebSocket control frames ---------------------------------------------------------------------


@given(frames)
@example("[" * 4000)  # was a RecursionError out of json.loads: the handshake died with no error message
@example("\ud800")  # a lone surrogate was a UnicodeEncodeError while measuring the frame
@example('{"type": "start", "channels": true}')
@example(b"")
def test_the_first_frame_is_the_start_or_a_declared_protocol_error(frame: str | bytes) -> None:
    try:
        assert parse_start(frame) == AudioFormat()
    except ProtocolError as error:
        assert error.code in START_CODES, error.code
        assert str(error)


@given(frames)
@example("[" * 4000)
@example(json.dumps({"type": "hangup"}))
@example(b"\0" * (MAX_AUDIO_BYTES + 1))
@example(b"\0")
async def test_every_frame_mid_call_is_audio_an_action_or_a_declared_error(frame: str | bytes) -> None:
    produced = await MedvoiceWsSerializer().deserialize(frame)
    if isinstance(produced, InputAudioRawFrame):
        assert isinstance(frame, bytes) and len(frame) % 2 == 0 and len(frame) <= MAX_AUDIO_BYTES
        assert produced.audio == frame
    elif isinstance(produced, OutputTransportMessageUrgentFrame):
        assert produced.message["type"] == "error" and produced.message["code"] in FRAME_CODES, produced.message
    else:  # the one action a client may ask for
        assert isinstance(frame, str) and json.loads(frame)["type"] == "hangup", produced


# -- SDP offers -------------------------------------------------------------------------------------


async def _browser_like_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    pc.createDataChannel("events")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


@pytest.fixture(scope="module")
def offer_lines() -> list[str]:
    sdp = asyncio.run(_browser_like_offer())
    # No host candidates: an offer that is taken then never connects, so nothing reaches a network.
    return [line for line in sdp.split("\r\n") if not line.startswith("a=candidate")]


def _mutate(lines: list[str], edits: list[tuple[str, int, str]]) -> str:
    lines = list(lines)
    for kind, at, text in edits:
        at = at % max(1, len(lines))
        if kind == "drop" and lines:
            del lines[at]
        elif kind == "duplicate" and lines:
            lines.insert(at, lines[at])
        elif kind == "replace" and lines:
            lines[at] = text
        elif kind == "insert":
            lines.insert(at, text)
        elif kind == "garble" and lines:
            line = lines[at]
            cut = len(text) % (len(line) + 1)
            lines[at] = line[:cut] + text + line[cut + 1:]
        elif kind == "truncate":
            lines = lines[:at]
    return "\r\n".join(lines)


sdp_line = st.one_of(
    st.text(max_size=30),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from("vosctmab"), st.text(max_size=30)),
    st.sampled_from(["m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=rtpmap:111 opus/48000/2",
                     "a=rtpmap:111 opus", "a=rtpmap:x opus/48000/2", "a=fmtp:111 minptime=10", "a=recvonly",
                     "a=inactive", "a=mid:", "a=group:BUNDLE 0 1 9", "a=fingerprint:sha-256 00", "a=setup:bogus",
                     "a=ice-ufrag:", "c=IN IP4 999.1.1.1", "m=audio 99999999999 RTP/AVP 0", "a=ssrc:1",
                     "a=sctp-port:abc", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=extmap:1 x"]),
)
edits = st.lists(
    st.tuples(st.sampled_from(["drop", "duplicate", "replace", "insert", "garble", "truncate"]),
              st.integers(0, 60), sdp_line),
    min_size=1, max_size=4,
)


@given(data=st.data())
def test_any_sdp_is_taken_or_refused_with_a_400_naming_it(offer_lines: list[str], data: st.DataObject) -> None:
    sdp = data.draw(st.one_of(edits.map(lambda e: _mutate(offer_lines, e)), st.text(max_size=300)))
    sdp_type = data.draw(st.sampled_from(["offer", "offer", "answer", ""]))
    try:
        check_offer_sdp(sdp, sdp_type)
    except SignallingError as error:
        assert error.status == 400 and error.code in {"bad_sdp", "bad_sdp_type", "no_audio_track", "no_opus"}
        assert str(error)


class _NoCall:
    """Stands in for the call itself (models, pipeline): what is under test is the SDP handling up to
    the peer connection; a taken peer never connects (no candidates), so the call never starts."""

    started = 0

    async def __call__(self, flow: str, transport: Any, options: Any) -> None:
        self.started += 1


@settings(max_examples=15)
@given(data=st.data())
def test_a_malformed_offer_over_http_is_a_clear_4xx_and_leaves_no_peer(
    offer_lines: list[str], data: st.DataObject
) -> None:
    sdp = data.draw(edits.map(lambda e: _mutate(offer_lines, e)))

    async def offer() -> None:
        calls = WebRTCCalls(WebRTCConfig(ice_timeout_s=1.0, offers_per_minute=10_000), _NoCall())
        app = FastAPI()
        app.include_router(build_signalling_router(calls, lambda flow, options: None))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            started = time.monotonic()
            response = await asyncio.wait_for(http.post("/api/offer", json={"sdp": sdp, "type": "offer"}), 10)
            assert time.monotonic() - started < 10
            assert response.status_code in (200, 400), response.text
            if response.status_code == 400:
                assert response.json()["error"] in {"bad_sdp", "no_audio_track", "no_opus"}
                assert calls.active_peers == 0
                return
            answer = response.json()
            assert answer["type"] == "answer" and answer["sdp"].startswith("v=0")
            hung_up = await http.delete(f"/api/calls/{answer['pc_id']}")
            assert hung_up.status_code in (204, 404)
        deadline = time.monotonic() + 5
        while calls.active_peers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert calls.active_peers == 0, "a peer outlived its hang-up"
        await calls.close()

    asyncio.run(offer())


# -- FHIR JSON bodies -------------------------------------------------------------------------------


def _fields(resource_type: str) -> list[str]:
    model = MODELS[resource_type]
    return sorted({(f.alias or name) for name, f in model.model_fields.items()} - {"resourceType"})


@st.composite
def fhir_bodies(draw: st.DrawFn) -> Any:
    """Valid resources with fields replaced or added, bodies of made-up fields, and non-objects."""
    valid = examples("p-1") | {"Patient": patient()}
    kind = draw(st.sampled_from(["mutated", "made_up", "raw"]))
    if kind == "raw":
        return draw(json_values)
    resource_type = draw(st.sampled_from(RESOURCE_TYPES))
    body: dict[str, Any] = dict(valid[resource_type]) if kind == "mutated" and resource_type in valid else {}
    body["resourceType"] = resource_type
    names = _fields(resource_type)
    for name in draw(st.lists(st.sampled_from(names), max_size=4)):
        body[name] = draw(json_values)
    if draw(st.booleans()):
        body[draw(st.text(max_size=8))] = draw(json_values)
    return body


@given(fhir_bodies())
@example({"resourceType": "Patient", "birthDate": "2026-13-45"})
@example({"resourceType": "Observation", "status": "final", "code": {}, "valueQuantity": {"value": "NaN"}})
def test_any_json_is_a_valid_resource_or_invalid_naming_the_field(body: Any) -> None:
    try:
        normalised = validate(body)
    except InvalidResourceError as error:
        assert error.issues and all(issue.expression for issue in error.issues)
        return
    assert normalised["resourceType"] == body["resourceType"]
    assert validate(normalised) == normalised  # what is stored validates again, unchanged


@pytest.fixture(scope="module")
def fhir_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from backends.embedded import open_store

    root = tmp_path_factory.mktemp("fhir-properties")
    store = open_store(database_url=f"sqlite:///{root / 'records.db'}", key_file=root / "keys.json", seed_days=1)
    app = FastAPI()
    app.include_router(build_records_router(store))
    token = store.tokens.issue(Principal("voice-agent", "service", "demo-hospital", purpose="triage"))
    yield app, {"Authorization": f"Bearer {token}"}
    store.close()


@settings(max_examples=60)
@given(fhir_bodies(), st.booleans())
def test_any_json_posted_to_fhir_is_created_or_a_4xx_outcome(fhir_app: Any, body: Any, as_text: bool) -> None:
    app, headers = fhir_app
    resource_type = body.get("resourceType") if isinstance(body, dict) else "Patient"
    if not isinstance(resource_type, str):
        resource_type = "Patient"
    content = json.dumps(body).encode() if as_text else json.dumps(body).encode()[:-1]  # truncated JSON too

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            return await http.post(f"/fhir/{resource_type}", content=content,
                                   headers={**headers, "Content-Type": "application/fhir+json"})

    response = asyncio.run(post())
    assert response.status_code in (201, 400, 403, 422), response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    answer = response.json()
    if response.status_code == 201:
        assert answer["resourceType"] == resource_type and answer["id"]
    else:
        assert answer["resourceType"] == "OperationOutcome" and answer["issue"][0]["diagnostics"]

