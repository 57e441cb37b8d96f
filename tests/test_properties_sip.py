"""Property tests of what the SIP line reads from an INVITE (issue 22): the called user, the route, the
allow-list and the codec choice are pure functions of the request text and the source address, run on
PJSIP's thread, where an exception would end the INVITE with no answer. Invariants over generated
requests: none raises, a called user read back is the one written, a source outside the allow-list is
never let in, and the codec chosen is one that was offered.
"""

from __future__ import annotations

import ipaddress

from hypothesis import example, given
from hypothesis import strategies as st

from transport.sip.codec import preferred_codec
from transport.sip.routing import called_user, route, source_allowed

ROUTES = (("triage", "triage"), ("120", "triage"), ("followup", "followup"), ("400-810-1234", "followup"))
sip_users = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()+", min_size=1,
                    max_size=20)
header_lines = st.one_of(
    st.text(max_size=60),
    st.builds(lambda name, value: f"{name}: {value}", st.sampled_from(["To", "t", "From", "Via", "Contact", "X-A"]),
              st.text(max_size=40)),
)
messages = st.one_of(
    st.text(max_size=300),
    st.builds(lambda line, headers: "\r\n".join([line, *headers]),
              st.one_of(st.builds(lambda user, host: f"INVITE sip:{user}@{host} SIP/2.0", sip_users, st.text(max_size=15)),
                        st.text(max_size=40).map(lambda uri: f"INVITE {uri} SIP/2.0")),
              st.lists(header_lines, max_size=6)),
)


@given(messages)
@example("INVITE sip:10.0.0.5 SIP/2.0\r\nTo: <sip:triage@10.0.0.5>")
@example("INVITE  SIP/2.0\r\nTo:")
@example("\n\n\n")
def test_any_invite_names_a_user_or_none_and_routes_or_not(message: str) -> None:
    user = called_user(message)
    assert user is None or (user and not any(c in user for c in "@;>? \t\r\n"))
    found = route(user, ROUTES)
    assert found is None or (found.flow in {"triage", "followup"} and found.called == user)


@given(sip_users, st.sampled_from(["sip", "sips", "SIP"]), st.sampled_from(["10.0.0.5", "pbx.example", "[::1]:5060"]))
def test_the_called_user_reads_back_as_written(user: str, scheme: str, host: str) -> None:
    assert called_user(f"INVITE {scheme}:{user}@{host};transport=udp SIP/2.0\r\nTo: <sip:other@{host}>\r\n") == user


@given(st.one_of(st.ip_addresses().map(str), st.text(max_size=40)), st.integers(0, 65535),
       st.sampled_from([("127.0.0.1/32",), ("10.0.0.0/8", "::1/128"), ()]))
@example("[::1", 0, ("::1/128",))
@example("::ffff:127.0.0.1", 5060, ("127.0.0.1/32",))
def test_a_source_is_allowed_only_inside_the_allow_list(host: str, port: int, allow: tuple[str, ...]) -> None:
    for source in (host, f"{host}:{port}", f"[{host}]:{port}"):
        if source_allowed(source, allow):
            address = ipaddress.ip_address(host.strip("[]"))
            assert any(address in ipaddress.ip_network(entry) for entry in allow), (source, allow)


sdp_lines = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["m=audio 4000 RTP/AVP 0 8 9 101", "m=audio 4000 RTP/AVP 3 97", "m=audio", "m=audio 1 2",
                     "a=rtpmap:8 PCMA/8000", "a=rtpmap:97 speex/8000", "a=rtpmap:", "a=rtpmap:101 telephone-event/8000",
                     "m=video 5000 RTP/AVP 96", "a=rtpmap:96 G722/8000"]),
)


@given(st.lists(sdp_lines, max_size=10).map("\r\n".join))
@example("m=audio 4000 RTP/AVP 3\r\na=rtpmap:3 GSM/8000")
def test_the_codec_chosen_is_one_offered_or_none(offer: str) -> None:
    chosen = preferred_codec(offer)
    assert chosen in (None, "PCMA", "PCMU", "G722")
    if chosen is not None:
        assert "m=audio " in offer
