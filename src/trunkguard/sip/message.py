"""SIP message parsing and building (RFC 3261 section 7), tolerant and bounded.

Tolerant: compact header names, folded continuation lines, bare LF line ends, responses without a
To-tag (SIPp's auto-answer sends those), odd header lines kept as defects. Bounded: message size
and header count are capped. Any input, however broken, either parses or raises SipParseError,
never anything else (a hypothesis test feeds it arbitrary bytes).

Written here rather than taken from `sipmessage` because probing parses every reply on the hot
path: this parser checks only what matching needs up front and is about 2x cheaper per reply.
"""

from __future__ import annotations

import re

from trunkguard.errors import SipParseError

MAX_MESSAGE_BYTES = 65_535
MAX_HEADERS = 128

COMPACT_NAMES = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
    "e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact", "k": "supported",
    "l": "content-length", "m": "contact", "n": "identity-info", "o": "event", "r": "refer-to",
    "s": "subject", "t": "to", "u": "allow-events", "v": "via", "x": "session-expires",
    "y": "identity",
}
_TOKEN = re.compile(r"[A-Za-z0-9!%'*+\-.^_`|~]+")
_BRANCH = re.compile(r";[ \t]*branch[ \t]*=[ \t]*([^;,\s]+)", re.IGNORECASE)
_UNFOLD = re.compile(r"\r?\n[ \t]+")


class SipMessage:
    """Fields shared by requests and responses.

    What transaction matching needs (top Via, Call-ID, CSeq, Content-Length) is parsed and
    checked when the message is parsed. The full `headers` dict (long lower-case names to
    values) is built on first access; a header line that does not parse is kept in `defects`
    rather than failing the message, as Python's email package does.
    """

    __slots__ = ("_defects", "_head", "_headers", "_lines", "body", "call_id", "cseq_method", "cseq_num",
                 "top_via", "via_branch")

    def __init__(self, head: str, lines: list[str] | None, body: bytes, top_via: str, call_id: str,
                 cseq: str) -> None:
        self._head = head
        self._lines = lines
        self._headers: dict[str, list[str]] | None = None
        self._defects: list[str] = []
        self.body = body
        self.top_via = top_via
        branch = _BRANCH.search(top_via)
        self.via_branch: str | None = branch.group(1) if branch else None
        self.call_id = call_id
        num, _, method = cseq.partition(" ")
        method = method.strip()
        if not num.isdigit() or len(num) > 10 or not method or " " in method:
            raise SipParseError(f"malformed CSeq {cseq[:40]!r}")
        self.cseq_num = int(num)
        self.cseq_method = method.upper()

    @property
    def headers(self) -> dict[str, list[str]]:
        headers = self._headers
        if headers is None:
            headers = {}
            names = _NAMES
            lines = self._lines
            if lines is None:
                lines = split_lines(self._head)[1:]
            for line in lines:
                name, sep, value = line.partition(":")
                key = names.get(name) if sep else None
                if key is None:
                    key = _canonical_name(name) if sep else None
                    if key is None:
                        if line.strip():
                            self._defects.append(line.rstrip()[:80])
                        continue
                found = headers.get(key)
                if found is None:
                    headers[key] = [value.strip()]
                else:
                    found.append(value.strip())
            self._headers = headers
        return headers

    @property
    def defects(self) -> list[str]:
        """Header lines that did not parse (each cut to 80 characters)."""
        self.headers  # noqa: B018 - builds the dict, which fills the defects
        return list(self._defects)

    def header(self, name: str) -> str | None:
        """The first value of a header by any spelling of its name (long or compact)."""
        key = name.lower()
        values = self.headers.get(COMPACT_NAMES.get(key, key))
        return values[0] if values else None

    @property
    def to_tag(self) -> str | None:
        value = self.header("to")
        return header_param(value, "tag") if value else None


class SipResponse(SipMessage):
    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str, head: str, lines: list[str] | None, body: bytes,
                 top_via: str, call_id: str, cseq: str) -> None:
        super().__init__(head, lines, body, top_via, call_id, cseq)
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"<SipResponse {self.status} {self.reason} {self.cseq_method} call-id={self.call_id}>"


class SipRequest(SipMessage):
    __slots__ = ("method", "uri")

    def __init__(self, method: str, uri: str, head: str, lines: list[str] | None, body: bytes,
                 top_via: str, call_id: str, cseq: str) -> None:
        super().__init__(head, lines, body, top_via, call_id, cseq)
        self.method = method
        self.uri = uri

    def __repr__(self) -> str:
        return f"<SipRequest {self.method} {self.uri} call-id={self.call_id}>"


def header_param(value: str, name: str) -> str | None:
    """A `;name=value` parameter of a header value (outside its <...> URI part), or None."""
    if ">" in value:
        value = value.rsplit(">", 1)[1]
    for part in value.split(";")[1:]:
        key, _, val = part.partition("=")
        if key.strip().lower() == name:
            return val.strip()
    return None


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Split at the blank line ending the headers; None when it has not arrived yet."""
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], data[end + 2 :]
    return None


_ESSENTIAL = frozenset(("via", "call-id", "cseq", "content-length"))


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """Parse one whole SIP message (a datagram, or one framed off a stream)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    parts = split_head(data)
    if parts is None:
        raise SipParseError("no blank line after the headers")
    head, rest = parts
    if head.count(b"\n") > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} header lines")
    text = head.decode("utf-8", "replace")
    start, lines, found = _scan_essentials(text)
    try:
        top_via, call_id, cseq = found["via"], found["call-id"], found["cseq"]
    except KeyError as exc:
        raise SipParseError(f"missing {exc.args[0]} header") from None
    if "," in top_via:
        top_via = top_via.split(",", 1)[0].strip()
    if not top_via or not call_id:
        raise SipParseError("empty Via or Call-ID header")
    length_text = found.get("content-length")
    if length_text == "0":
        body = b""
    elif length_text is not None:
        length = parse_content_length(length_text)
        if length > len(rest):
            raise SipParseError(f"body is {len(rest)} bytes, Content-Length says {length}")
        body = rest[:length]
    else:
        body = rest
    if start.startswith("SIP/2.0 "):
        code_text, _, reason = start[8:].partition(" ")
        if len(code_text) != 3 or not code_text.isdigit() or not 100 <= int(code_text) <= 699:
            raise SipParseError(f"bad status line {start[:80]!r}")
        return SipResponse(int(code_text), reason.strip(), text, lines, body, top_via, call_id, cseq)
    method, sp1, rest_line = start.partition(" ")
    uri, sp2, version = rest_line.partition(" ")
    if not (sp1 and sp2) or version.strip() != "SIP/2.0" or not _TOKEN.fullmatch(method) or not uri:
        raise SipParseError(f"bad start line {start[:80]!r}")
    return SipRequest(method.upper(), uri, text, lines, body, top_via, call_id, cseq)


def _scan_essentials(text: str) -> tuple[str, list[str], dict[str, str]]:
    """The general path: any spelling, compact names, folded lines, bare LF line ends."""
    lines = split_lines(text)
    start = lines[0]
    del lines[0]
    found: dict[str, str] = {}
    names = _NAMES
    for line in lines:
        if line[:1] in _ESSENTIAL_INITIALS:
            name, sep, value = line.partition(":")
            key = names.get(name) if sep else None
            if key is None and sep:
                key = _canonical_name(name)
            if key in _ESSENTIAL and key not in found:
                found[key] = value.strip()
    return start, lines, found


def split_lines(text: str) -> list[str]:
    """Header text into lines: folded continuations joined, CRLF or bare LF line ends."""
    if "\n " in text or "\n\t" in text:  # folded continuation lines (RFC 3261 7.3.1)
        text = _UNFOLD.sub(" ", text)
    lines = text.split("\r\n")
    if len(lines) != text.count("\n") + 1:  # bare LF line ends, or a mix
        lines = text.replace("\r\n", "\n").split("\n")
    return lines


_NAMES: dict[str, str] = {}
_NAMES_MAX = 1024
_ESSENTIAL_INITIALS = frozenset("VvCcIiLl")


def _canonical_name(name: str) -> str | None:
    """A header name as written -> its long lower-case form, or None if it is not a token.
    Valid spellings are cached (up to a bound), so each is checked once."""
    key = name.strip().lower()
    if not _TOKEN.fullmatch(key):
        return None
    key = COMPACT_NAMES.get(key, key)
    if len(_NAMES) < _NAMES_MAX:
        _NAMES[name] = key
    return key


def parse_content_length(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) > 6 or not text.isascii():
        raise SipParseError(f"bad Content-Length {text[:20]!r}")
    return int(text)


def build_request(
    method: str,
    request_uri: str,
    via: str,
    branch: str,
    from_uri: str,
    from_tag: str,
    to_uri: str,
    call_id: str,
    cseq: int,
    extra: str = "",
    body: bytes = b"",
    max_forwards: int = 70,
    user_agent: str = "trunkguard",
) -> bytes:
    """Serialise a request. `via` is the sent-by part, e.g. `SIP/2.0/UDP 127.0.0.1:5060`;
    `extra` holds further header lines, each ending in CRLF."""
    return build_dialog_request(method, request_uri, via=via, branch=branch,
                                from_header=f"<{from_uri}>;tag={from_tag}", to_header=f"<{to_uri}>",
                                call_id=call_id, cseq=cseq, extra=extra, body=body, user_agent=user_agent,
                                max_forwards=max_forwards)


def build_dialog_request(method: str, request_uri: str, *, via: str, branch: str, from_header: str,
                         to_header: str, call_id: str, cseq: int, extra: str = "", body: bytes = b"",
                         user_agent: str = "trunkguard", max_forwards: int = 70) -> bytes:
    """A request with From and To given whole (tags included): INVITE, ACK, CANCEL, BYE."""
    head = (
        f"{method} {request_uri} SIP/2.0\r\n"
        f"Via: {via};branch={branch};rport\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        f"From: {from_header}\r\n"
        f"To: {to_header}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"User-Agent: {user_agent}\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def build_response(request: SipRequest, status: int, reason: str, *, to_tag: str | None = None,
                   extra: str = "", body: bytes = b"") -> bytes:
    """A response to `request` echoing its Via, From, To, Call-ID and CSeq (the lab responder's)."""
    vias = "".join(f"Via: {v}\r\n" for v in request.headers.get("via", []))
    to = request.header("to") or ""
    if to_tag and header_param(to, "tag") is None:
        to = f"{to};tag={to_tag}"
    head = (
        f"SIP/2.0 {status} {reason}\r\n{vias}"
        f"From: {request.header('from') or ''}\r\nTo: {to}\r\n"
        f"Call-ID: {request.call_id}\r\nCSeq: {request.cseq_num} {request.cseq_method}\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
