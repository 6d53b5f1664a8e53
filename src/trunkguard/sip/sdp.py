"""SDP for the media check (RFC 4566): an audio offer in the trunk's codec order plus
telephone-event (RFC 4733), and the few facts of the answer we need: where to send RTP, which codec."""

from __future__ import annotations

from dataclasses import dataclass

from trunkguard.errors import SipParseError

STATIC_PT = {"PCMU": 0, "GSM": 3, "G723": 4, "PCMA": 8, "G722": 9, "G728": 15, "G729": 18}
CLOCK = {"G722": 8000, "OPUS": 48000}
TELEPHONE_EVENT_PT = 101


@dataclass(frozen=True)
class SdpAnswer:
    host: str
    port: int
    payload_type: int
    codec: str


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
    session_host: str | None = None
    media_host: str | None = None
    port: int | None = None
    payload: int | None = None
    names: dict[int, str] = {}
    in_audio = False
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            in_audio = len(parts) >= 4 and parts[0] == "audio" and port is None
            if in_audio:
                if not parts[1].isdigit() or not parts[3].isdigit():
                    raise SipParseError(f"bad SDP media line {line[:60]!r}")
                port, payload = int(parts[1]), int(parts[3])
        elif line.startswith("c="):
            parts = line[2:].split()
            if len(parts) == 3:
                if port is None:
                    session_host = parts[2].split("/")[0]
                elif in_audio:
                    media_host = parts[2].split("/")[0]
        elif line.startswith("a=rtpmap:"):
            pt_text, _, rest = line[9:].partition(" ")
            if pt_text.isdigit():
                names[int(pt_text)] = rest.split("/")[0].upper()
    host = media_host or session_host
    if host is None or port is None or payload is None:
        raise SipParseError("SDP answer has no audio connection address and port")
    codec = names.get(payload) or next((n for n, pt in STATIC_PT.items() if pt == payload), f"PT{payload}")
    return SdpAnswer(host, port, payload, codec)
