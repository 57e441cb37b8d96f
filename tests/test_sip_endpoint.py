"""The SIP endpoint without the service: routing and allow-list, the nurse's summary, the media
queue, frame bytes, and with a real PJSUA2 peer, SDES-SRTP required by config and SIP over TLS."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.sip.client import SipPeer

pj = pytest.importorskip("pjsua2")

INVITE = (
    "INVITE sip:8001@10.0.0.5:5060;transport=udp SIP/2.0\r\n"
    "From: <sip:13800000000@10.1.2.5>;tag=1\r\nTo: <sip:8001@10.0.0.5>\r\n\r\n"
    "v=0\r\nm=audio 4000 RTP/AVP 0 8 9 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def test_routing_by_called_user_and_number_plan():
    from transport.sip.routing import called_user, route, source_allowed

    assert called_user(INVITE) == "8001"
    assert called_user("INVITE sip:10.0.0.5 SIP/2.0\r\nTo: <sip:triage@10.0.0.5>\r\n") == "triage"
    routes = (("triage", "triage"), ("800-1", "triage"), ("followup", "followup"))
    assert route("8001", routes).flow == "triage"
    assert route("TRIAGE", routes).flow == "triage"
    assert route("9999", routes) is None and route(None, routes) is None
    assert source_allowed("10.1.2.5:5060", ("10.1.0.0/16",))
    assert not source_allowed("10.2.0.1:5060", ("10.1.0.0/16",))
    assert source_allowed("[::1]:5060", ("::1",)) and not source_allowed("garbage", ("10.0.0.0/8",))


def test_codec_preference_reads_the_offer():
    from transport.sip.codec import preferred_codec

    assert preferred_codec(INVITE) == "PCMA"
    assert preferred_codec("m=audio 4000 RTP/AVP 9 0\r\n") == "PCMU"
    assert preferred_codec("m=audio 4000 RTP/AVP 3\r\n") is None


def test_summary_header_carries_what_the_nurse_needs_and_no_more():
    from transport.sip.transfer import SUMMARY_HEADER, refer_to, summary_headers

    events = [
        {"type": "transcript", "role": "caller", "text": "我叫张三，我胸口疼"},
        {"type": "state", "flow": "triage", "level": 1, "department": "急诊科", "red_flags": ["chest_pain"],
         "reason": "胸痛伴出汗", "handoff": "h-42", "slots": {"name": "张三"}},
    ]
    headers = summary_headers(events)
    text = unquote(headers[SUMMARY_HEADER])
    assert text == "flow=triage;level=1;department=急诊科;red_flags=chest_pain;reason=胸痛伴出汗;handoff=h-42"
    assert "张三" not in text and headers[SUMMARY_HEADER].isascii()
    target = refer_to("sip:8000@pbx.local", headers)
    assert target.startswith("<sip:8000@pbx.local?X-Medvoice-Summary=") and target.endswith(">")
    assert " " not in target and "<" not in target[1:]


def test_outgoing_audio_is_paced_in_frames_and_held_for_barge_in():
    from transport.sip.codec import FRAME_BYTES, SILENCE
    from transport.sip.media import OutgoingAudio

    out = OutgoingAudio()
    assert out.write(b"\x01\x00" * 500) == 1  # 1000 bytes: one whole 640-byte frame, the rest waits
    out.flush()
    assert out.queued == 2
    out.pause()
    assert out.next_frame() == SILENCE and out.queued == 2
    out.write(b"\x02\x00" * (FRAME_BYTES // 2))
    out.resume()
    assert out.next_frame()[:2] == b"\x01\x00" and out.queued == 2
    out.drop()
    assert out.queued == 0 and out.next_frame() == SILENCE


def test_frame_bytes_reads_a_pjsua2_vector():
    from transport.sip.codec import frame_bytes

    data = bytes(range(256)) * 2 + bytes(128)
    assert frame_bytes(pj.ByteVector(data)) == data
    assert frame_bytes(pj.ByteVector(b"")) == b""


async def _answering_endpoint(**config):
    from transport.sip.config import SipConfig
    from transport.sip.endpoint import SipEndpoint

    answered = []

    async def run(call):
        await call.answer()
        await asyncio.wait_for(call.media_ready.wait(), 5)
        answered.append(call)

    tasks = set()

    def on_call(call):
        task = asyncio.create_task(run(call))
        tasks.add(task)

    endpoint = SipEndpoint(SipConfig(port=0, bind="127.0.0.1", allow_from=("127.0.0.1",), **config), on_call)
    await endpoint.start()
    return endpoint, answered


async def _settled(endpoint, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while endpoint.live_calls or endpoint.media_ports:
        assert loop.time() < deadline, f"{endpoint.live_calls} calls, {endpoint.media_ports} ports left"
        await asyncio.sleep(0.1)


async def test_srtp_mandatory_refuses_plain_rtp_and_takes_sdes():
    endpoint, answered = await _answering_endpoint(srtp="mandatory")
    try:
        uri = f"sip:triage@127.0.0.1:{endpoint.ports['udp']}"
        plain = await asyncio.to_thread(SipPeer, "call", uri)
        try:
            assert (await asyncio.to_thread(plain.wait_for, "disconnected", 10))["status"] == 488
        finally:
            await asyncio.to_thread(plain.close)
        secure = await asyncio.to_thread(SipPeer, "--srtp", "mandatory", "call", uri)
        try:
            await asyncio.to_thread(secure.wait_for, "media", 10)
            for _ in range(50):
                if answered and answered[-1].stats.rx_packets:
                    break
                await asyncio.sleep(0.1)
            assert answered and answered[-1].stats.rx_packets > 0
            secure.send("hangup")
            await asyncio.to_thread(secure.wait_for, "disconnected", 10)
        finally:
            await asyncio.to_thread(secure.close)
        await _settled(endpoint)
    finally:
        await endpoint.stop()


def _self_signed(folder: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


async def test_sip_over_tls_listens_with_the_configured_certificate(tmp_path):
    import socket

    with socket.socket() as probe:  # a free port for the TLS listener (PJSIP takes a fixed one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cert, key = _self_signed(tmp_path)
    endpoint, _ = await _answering_endpoint(tls_port=port, tls_cert=cert, tls_key=key)
    try:
        assert endpoint.ports["tls"] == port and endpoint.tls
        context = ssl.create_default_context(cafile=cert)
        context.check_hostname = False
        _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        writer.close()
    finally:
        await endpoint.stop()


def _tone_snr_db(audio, rate: int, freq: float) -> float:
    """Energy within 5% of ``freq`` over the energy elsewhere in 200-3400 Hz (clicks at frame
    joins would spread across the band, at 50 Hz harmonics for 20 ms frames)."""
    import numpy as np

    audio = np.asarray(audio, np.float64)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    bins = np.fft.rfftfreq(len(audio), 1 / rate)
    tone = (bins > freq * 0.95) & (bins < freq * 1.05)
    rest = (bins > 200) & (bins < 3400) & ~tone
    return float(10 * np.log10(spectrum[tone].sum() / max(spectrum[rest].sum(), 1e-12)))


async def test_pcma_path_resamples_both_ways_without_clicks(tmp_path):
    """A 1 kHz tone from the phone reaches the pipeline at 16 kHz, and a 440 Hz tone from the
    pipeline reaches the phone, both through PCMA at 8 kHz, with no energy spread by frame joins."""
    import numpy as np
    import soundfile as sf

    from transport.sip.config import SipConfig
    from transport.sip.endpoint import SipEndpoint

    t = np.arange(int(16000 * 3)) / 16000
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16), 16000)
    agent_tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16).tobytes()
    received: list[bytes] = []

    async def run(call):
        await call.answer()
        await asyncio.wait_for(call.media_ready.wait(), 5)
        call.outgoing.write(agent_tone)
        while not call.ended.is_set():
            try:
                received.append(await asyncio.wait_for(call.incoming.get(), 0.5))
            except TimeoutError:
                continue

    tasks = set()
    endpoint = SipEndpoint(SipConfig(port=0, bind="127.0.0.1", allow_from=("127.0.0.1",)),
                           lambda call: tasks.add(asyncio.create_task(run(call))))
    await endpoint.start()
    recording = tmp_path / "phone.wav"
    try:
        peer = await asyncio.to_thread(SipPeer, "--codecs", "PCMA", "--record", str(recording), "call",
                                       f"sip:triage@127.0.0.1:{endpoint.ports['udp']}")
        try:
            assert (await asyncio.to_thread(peer.wait_for, "media", 10))["codec"] == "PCMA/8000"
            peer.send(f"play {tmp_path / 'tone.wav'}")
            await asyncio.sleep(2.5)
            peer.send("hangup")
            await asyncio.to_thread(peer.wait_for, "disconnected", 10)
        finally:
            await asyncio.to_thread(peer.close)
        await asyncio.gather(*tasks)
        await _settled(endpoint)
    finally:
        await endpoint.stop()
    heard = np.frombuffer(b"".join(received), np.int16).astype(np.float64)
    loud = np.flatnonzero(np.abs(heard) > 3000)
    assert len(loud) > 16000, f"only {len(heard) / 16000:.1f} s reached the pipeline"
    incoming = heard[loud[0] + 1600 : loud[0] + 1600 + 16000]  # 1 s, past the start
    assert _tone_snr_db(incoming, 16000, 1000) > 25
    phone, rate = sf.read(recording, dtype="float64")
    loud = np.flatnonzero(np.abs(phone) > 0.1)
    outgoing = phone[loud[0] + 1600 : loud[0] + 1600 + rate]
    assert len(outgoing) == rate and _tone_snr_db(outgoing, rate, 440) > 25


async def test_make_call_reaches_an_answering_a_busy_and_a_silent_phone():
    """The outbound hook a campaign dialler builds on: answered (media flows), busy (486), and a
    phone that rings and is never answered (hung up by the dialler: 487)."""
    from transport.sip.config import SipConfig
    from transport.sip.endpoint import SipEndpoint

    endpoint = SipEndpoint(SipConfig(port=0, bind="127.0.0.1", allow_from=("127.0.0.1",)), lambda call: None)
    await endpoint.start()
    phone = await asyncio.to_thread(SipPeer, "--user", "patient", "answer")
    try:
        uri = f"sip:patient@127.0.0.1:{phone.port}"
        call = await endpoint.make_call(uri, "followup", headers={"X-Medvoice-Campaign": "demo"})
        await asyncio.wait_for(call.media_ready.wait(), 10)
        invite = await asyncio.to_thread(phone.wait_for, "invite", 5)
        assert invite["headers"].get("X-Medvoice-Campaign") == "demo"
        await asyncio.sleep(1.0)
        assert call.stats.codec == "PCMA/8000" and call.stats.rx_packets > 0
        await call.hangup()
        await asyncio.wait_for(call.ended.wait(), 10)

        phone.send("status 486")
        await asyncio.to_thread(phone.wait_for, "status_set", 5, status=486)
        busy = await endpoint.make_call(uri, "followup")
        await asyncio.wait_for(busy.ended.wait(), 10)
        assert busy.end_status == 486 and not busy.media_ready.is_set()

        phone.send("status 180")  # rings, nobody picks up
        await asyncio.to_thread(phone.wait_for, "status_set", 5, status=180)
        silent = await endpoint.make_call(uri, "followup")
        await asyncio.sleep(1.0)
        assert not silent.ended.is_set()
        await silent.hangup()  # the dialler's ring timeout
        await asyncio.wait_for(silent.ended.wait(), 10)
        assert silent.end_status == 487
        await _settled(endpoint)
    finally:
        await asyncio.to_thread(phone.close)
        await endpoint.stop()


async def test_garbage_is_ignored_and_a_flood_from_one_address_gets_503():
    import socket

    from transport.sip.config import SipConfig
    from transport.sip.endpoint import SipEndpoint

    answered = []

    async def run(call):
        await call.answer()
        answered.append(call)

    tasks = set()
    endpoint = SipEndpoint(SipConfig(port=0, bind="127.0.0.1", allow_from=("127.0.0.1",), invites_per_minute=2),
                           lambda call: tasks.add(asyncio.create_task(run(call))))
    await endpoint.start()
    try:
        port = endpoint.ports["udp"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for junk in (b"\x00\xff" * 300, b"INVITE sip:triage@x SIP/2.0\r\nVia: ???\r\n\r\n", b"\r\n\r\n"):
                raw.sendto(junk, ("127.0.0.1", port))
        with socket.create_connection(("127.0.0.1", port)) as tcp:
            tcp.sendall(b"OPTIONS garbage\r\nContent-Length: 99999999\r\n\r\n")
        statuses = []
        for _ in range(3):
            peer = await asyncio.to_thread(SipPeer, "call", f"sip:triage@127.0.0.1:{port}")
            try:
                event = await asyncio.to_thread(peer.wait_for, "state", 10, state="CONFIRMED") if len(statuses) < 2 \
                    else await asyncio.to_thread(peer.wait_for, "disconnected", 10)
                statuses.append(event["status"])
                if len(statuses) == 3:
                    assert event["retry_after"] and event["retry_after"] > 0
                peer.send("hangup")
                await asyncio.to_thread(peer.wait_for, "disconnected", 10)
            finally:
                await asyncio.to_thread(peer.close)
        assert statuses == [200, 200, 503]
        await asyncio.gather(*tasks)
        await _settled(endpoint)
    finally:
        await endpoint.stop()
