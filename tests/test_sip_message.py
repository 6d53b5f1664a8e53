"""The SIP parser: tolerant of what real peers send, bounded, and never raising a foreign error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkguard.errors import SipParseError
from trunkguard.sip.message import (
    MAX_HEADERS,
    MAX_MESSAGE_BYTES,
    SipRequest,
    SipResponse,
    build_request,
    build_response,
    parse_message,
)

SIPP_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:51395;branch=z9hG4bKabc;rport\r\n"
    b"From: <sip:trunkguard@127.0.0.1>;tag=1\r\n"
    b"To: <sip:ping@127.0.0.1:15060>\r\n"
    b"Call-ID: x1@tg\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Contact: <sip:127.0.0.1:15060;transport=UDP>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_sipp_200_without_to_tag_parses() -> None:
    """SIPp's auto-answer 200 has no To-tag; it is still a valid response."""
    msg = parse_message(SIPP_200)
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason, msg.call_id, msg.cseq_num, msg.cseq_method) == (200, "OK", "x1@tg", 1, "OPTIONS")
    assert msg.via_branch == "z9hG4bKabc"
    assert msg.to_tag is None
    assert msg.body == b""


def test_compact_names_fold_and_bare_lf() -> None:
    """Compact header names, a folded line and bare LF line ends all parse to long names."""
    raw = (b"SIP/2.0 404 Not Found\n"
           b"v: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKx;received=1.2.3.4\n"
           b"i: abc@host\n"
           b"CSeq: 7 options\n"
           b"t: <sip:a@b>\n  ;tag=99\n"
           b"l: 4\n\nbody+extra")
    msg = parse_message(raw)
    assert isinstance(msg, SipResponse)
    assert msg.status == 404 and msg.call_id == "abc@host" and msg.cseq_method == "OPTIONS"
    assert msg.via_branch == "z9hG4bKx"
    assert msg.header("To") == "<sip:a@b> ;tag=99" and msg.to_tag == "99"
    assert msg.header("t") == msg.header("to")
    assert msg.body == b"body"


def test_first_via_of_a_comma_list_is_the_top_via() -> None:
    raw = SIPP_200.replace(b"rport\r\n", b"rport, SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKother\r\n")
    assert parse_message(raw).via_branch == "z9hG4bKabc"


def test_uppercase_branch_parameter_is_found() -> None:
    raw = SIPP_200.replace(b";branch=", b";Branch = ")
    assert parse_message(raw).via_branch == "z9hG4bKabc"


def test_bad_non_essential_header_is_a_defect_not_a_failure() -> None:
    msg = parse_message(SIPP_200.replace(b"Contact:", b"not a header\r\nContact:"))
    assert msg.defects == ["not a header"]
    assert msg.header("contact") == "<sip:127.0.0.1:15060;transport=UDP>"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\n", "no blank line"),
        (SIPP_200.replace(b"Call-ID: x1@tg\r\n", b""), "missing call-id"),
        (SIPP_200.replace(b"Via: ", b"X-Via: "), "missing via"),
        (SIPP_200.replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS"), "malformed CSeq"),
        (SIPP_200.replace(b"200 OK", b"2000 OK"), "bad status line"),
        (SIPP_200.replace(b"Content-Length: 0", b"Content-Length: 10"), "Content-Length says 10"),
        (SIPP_200.replace(b"Content-Length: 0", b"Content-Length: -1"), "bad Content-Length"),
        (SIPP_200.replace(b"SIP/2.0 200 OK", b"OPTIONS sip:a SIP/3.0"), "bad start line"),
    ],
)
def test_malformed_messages_raise_the_package_error(raw: bytes, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        parse_message(raw)


def test_message_size_limit() -> None:
    big = SIPP_200.replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: 70000\r\n\r\n" + b"x" * 70_000)
    with pytest.raises(SipParseError, match=f"over the {MAX_MESSAGE_BYTES}-byte limit"):
        parse_message(big)


def test_header_count_limit() -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    with pytest.raises(SipParseError, match=f"more than {MAX_HEADERS} header lines"):
        parse_message(SIPP_200.replace(b"Content-Length", many + b"Content-Length"))


def test_build_request_round_trips() -> None:
    data = build_request("OPTIONS", "sip:10.0.0.1:5060", via="SIP/2.0/UDP 10.0.0.2:5070", branch="z9hG4bK1",
                         from_uri="sip:tg@10.0.0.2", from_tag="t1", to_uri="sip:10.0.0.1:5060",
                         call_id="c1@tg", cseq=4)
    req = parse_message(data)
    assert isinstance(req, SipRequest)
    assert (req.method, req.uri, req.via_branch, req.call_id, req.cseq_num) == ("OPTIONS", "sip:10.0.0.1:5060",
                                                                             "z9hG4bK1", "c1@tg", 4)
    reply = parse_message(build_response(req, 200, "OK", to_tag="uas1"))
    assert isinstance(reply, SipResponse)
    assert reply.via_branch == "z9hG4bK1" and reply.to_tag == "uas1" and reply.call_id == "c1@tg"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_sip_parse_error(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    msg.headers  # noqa: B018 - the lazy part must not raise either
    msg.defects  # noqa: B018


_lines = st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40), max_size=12)


@settings(max_examples=400, deadline=None)
@given(_lines, st.sampled_from([b"\r\n", b"\n"]))
def test_mutated_sip_shaped_input_raises_only_sip_parse_error(lines: list[str], eol: bytes) -> None:
    """Near-miss SIP (a real start line and essential headers, then arbitrary lines)."""
    head = [b"SIP/2.0 200 OK", b"Via: SIP/2.0/UDP h;branch=z9hG4bK1", b"Call-ID: c", b"CSeq: 1 OPTIONS"]
    data = eol.join(head + [line.encode() for line in lines]) + eol + eol
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    assert msg.call_id == "c" or any("call-id" in line.lower() or line[:2].lower() == "i:" for line in lines)
    msg.headers  # noqa: B018


def test_the_sip_counters_are_all_named() -> None:
    """/metrics reads them by name; the compiled build has no `__slots__` to list them."""
    from dataclasses import fields

    from trunkguard.sip.client import SipStats

    assert list(SipStats().as_dict()) == [f.name for f in fields(SipStats)]
