"""SDP for the media check (RFC 4566): an audio offer in the trunk's codec order plus
telephone-event (RFC 4733), and what the answer says.

`parse_answer` gives the few facts the RTP check needs (where to send, which codec). `summarize`
keeps what parity compares between carriers: the answered codecs in their order, the
telephone-event payload and its events, ptime, the SRTP crypto suites (the keys are left out: they
are secrets of one call) and the media direction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trunkguard.errors import SipParseError

STATIC_PT = {"PCMU": 0, "GSM": 3, "G723": 4, "PCMA": 8, "G722": 9, "G728": 15, "G729": 18}
CLOCK = {"G722": 8000, "OPUS": 48000}
TELEPHONE_EVENT_PT = 101
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


@dataclass(frozen=True)
class SdpAnswer:
    host: str
    port: int
    payload_type: int
    codec: str


@dataclass(frozen=True)
class AnswerSummary:
    """What one SDP answer commits the carrier to, without the per-call parts (port, keys)."""

    address: str
    codecs: tuple[str, ...]  # the answered audio codecs, in the answer's order, telephone-event apart
    telephone_event: int | None = None  # its payload type; None: answered without RFC 4733 events
    events: str | None = None  # the telephone-event fmtp, e.g. "0-16"; None: not given (0-15 by default)
    ptime: int | None = None
    crypto: tuple[str, ...] = ()  # "1 AES_CM_128_HMAC_SHA1_80": tag and suite of each a=crypto line
    profile: str = "RTP/AVP"
    direction: str = "sendrecv"

    def as_dict(self) -> dict[str, Any]:
        return {"address": self.address, "codecs": list(self.codecs), "telephone_event": self.telephone_event,
                "events": self.events, "ptime": self.ptime, "crypto": list(self.crypto), "profile": self.profile,
                "direction": self.direction}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnswerSummary:
        """A summary read back from the store (as `as_dict` wrote it)."""
        event = data.get("telephone_event")
        ptime = data.get("ptime")
        return cls(str(data.get("address") or ""), tuple(str(c) for c in data.get("codecs") or ()),
                   int(event) if event is not None else None,
                   str(data["events"]) if data.get("events") is not None else None,
                   int(ptime) if ptime is not None else None, tuple(str(c) for c in data.get("crypto") or ()),
                   str(data.get("profile") or "RTP/AVP"), str(data.get("direction") or "sendrecv"))


def offer(host: str, port: int, codecs: list[str], *, ptime: int = 20, session_id: int = 1) -> bytes:
    payloads: list[tuple[int, str]] = []
    dynamic = 96
    for name in codecs:
        upper = name.upper()
        if upper in STATIC_PT:
            payloads.append((STATIC_PT[upper], upper))
        else:
            payloads.append((dynamic, upper))
            dynamic += 1
    ip = "IP6" if ":" in host else "IP4"
    lines = ["v=0", f"o=trunkguard {session_id} {session_id} IN {ip} {host}", "s=trunkguard media check",
             f"c=IN {ip} {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(str(pt) for pt, _ in payloads)} {TELEPHONE_EVENT_PT}"]
    for pt, name in payloads:
        rate = CLOCK.get(name, 8000)
        lines.append(f"a=rtpmap:{pt} {'opus' if name == 'OPUS' else name}/{rate}" + ("/2" if name == "OPUS" else ""))
    lines += [f"a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000", f"a=fmtp:{TELEPHONE_EVENT_PT} 0-16",
              f"a=ptime:{ptime}", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


def parse_answer(body: bytes) -> SdpAnswer:
    """The connection address, audio port and first audio payload of an SDP answer."""
    audio = _audio(body)
    return SdpAnswer(audio.host, audio.port, audio.payloads[0], audio.name(audio.payloads[0]))


def summarize(body: bytes) -> AnswerSummary:
    """The answer's first audio stream as parity compares it (raises SipParseError without one)."""
    audio = _audio(body)
    names = [audio.name(pt) for pt in audio.payloads]
    event = next((pt for pt, name in zip(audio.payloads, names, strict=True) if name == "TELEPHONE-EVENT"), None)
    return AnswerSummary(audio.host, tuple(n for n in names if n != "TELEPHONE-EVENT"), event,
                         audio.fmtp.get(event) if event is not None else None, audio.ptime, tuple(audio.crypto),
                         audio.profile, audio.direction)


@dataclass
class _Audio:
    host: str
    port: int
    profile: str
    payloads: list[int]
    rtpmap: dict[int, str]
    fmtp: dict[int, str]
    ptime: int | None
    crypto: list[str]
    direction: str

    def name(self, pt: int) -> str:
        return self.rtpmap.get(pt) or next((n for n, p in STATIC_PT.items() if p == pt), f"PT{pt}")


def _audio(body: bytes) -> _Audio:
    """The first audio m= section with its attributes (session-level c= and direction as defaults)."""
    session_host: str | None = None
    media_host: str | None = None
    session_direction = "sendrecv"
    audio: _Audio | None = None
    section = "session"
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            if audio is None and len(parts) >= 4 and parts[0] == "audio":
                if not parts[1].isdigit() or not all(p.isdigit() for p in parts[3:]):
                    raise SipParseError(f"bad SDP media line {line[:60]!r}")
                audio = _Audio("", int(parts[1]), parts[2], [int(p) for p in parts[3:]], {}, {}, None, [],
                               session_direction)
                section = "audio"
            else:
                section = "other"
        elif section == "other":
            continue
        elif line.startswith("c="):
            parts = line[2:].split()
            if len(parts) == 3:
                if section == "session":
                    session_host = parts[2].split("/")[0]
                else:
                    media_host = parts[2].split("/")[0]
        elif line[2:] in DIRECTIONS and line.startswith("a="):
            if audio is None:
                session_direction = line[2:]
            else:
                audio.direction = line[2:]
        elif audio is not None:
            _attribute(audio, line)
    host = media_host or session_host
    if host is None or audio is None:
        raise SipParseError("SDP answer has no audio connection address and port")
    audio.host = host
    return audio


def _attribute(audio: _Audio, line: str) -> None:
    key, _, value = line.partition(":")
    if key == "a=rtpmap":
        pt_text, _, rest = value.partition(" ")
        if pt_text.isdigit():
            audio.rtpmap[int(pt_text)] = rest.split("/")[0].strip().upper()
    elif key == "a=fmtp":
        pt_text, _, rest = value.partition(" ")
        if pt_text.isdigit():
            audio.fmtp[int(pt_text)] = rest.strip()
    elif key == "a=ptime" and value.strip().isdigit():
        audio.ptime = int(value.strip())
    elif key == "a=crypto":
        audio.crypto.append(" ".join(value.split()[:2]))  # tag and suite; the inline key stays out
