"""SIP URIs as trunk targets."""

from __future__ import annotations

import pytest

from trunkguard.errors import SipUriError
from trunkguard.sip.uri import Transport, parse_uri


@pytest.mark.parametrize(
    ("text", "host", "port", "transport", "explicit"),
    [
        ("sip:127.0.0.1:5070;transport=udp", "127.0.0.1", 5070, Transport.UDP, True),
        ("sip:sbc1.carrier-a.example:5061;transport=TLS", "sbc1.carrier-a.example", 5061, Transport.TLS, True),
        ("sips:sbc.example", "sbc.example", None, Transport.TLS, True),
        ("sip:ping@[::1]:5080;transport=tcp", "::1", 5080, Transport.TCP, True),
        ("sip:carrier.example", "carrier.example", None, Transport.UDP, False),
    ],
)
def test_parse(text: str, host: str, port: int | None, transport: Transport, explicit: bool) -> None:
    uri = parse_uri(text)
    assert (uri.host, uri.port, uri.transport, uri.explicit_transport) == (host, port, transport, explicit)


def test_str_round_trips() -> None:
    assert str(parse_uri("sip:ping@[::1]:5080;transport=tcp")) == "sip:ping@[::1]:5080;transport=tcp"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://x", "must start with sip: or sips:"),
        ("sip:", "has no host"),
        ("sip:host:99999", "port '99999' is not a number from 1 to 65535"),
        ("sip:host;transport=sctp", "transport=sctp is not supported"),
        ("sips:host;transport=udp", "a sips: URI needs TLS"),
        ("sip:[::1", "unclosed"),
    ],
)
def test_bad_uris_say_why(text: str, message: str) -> None:
    with pytest.raises(SipUriError, match=message):
        parse_uri(text)
