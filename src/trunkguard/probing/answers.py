"""Parity from the carriers' own answers: what each carrier's SDP answers to trunkguard's test calls
(sweep and media checks) really committed to, compared carrier against carrier, as sentences.

The configured profiles say what the carriers are meant to do; the answers say what they do. This
needs nothing from the contact-center platform, so it works the same for Genesys Cloud, CXone and
the generic contract. A carrier's answers are summed up by the answer most of its calls got (a
sweep over many DIDs usually gets one answer from one SBC); the comparison names codecs and their
order, DTMF by telephone-event (RFC 4733) and its events, ptime, SRTP crypto suites and the media
direction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trunkguard.sip.sdp import AnswerSummary


def typical_answer(stored: Sequence[Mapping[str, Any]]) -> AnswerSummary | None:
    """The answer most calls got, from a stored sweep's `answers` ({answer, dids}); None without any."""
    best = max(stored, key=lambda a: int(a.get("dids") or 0), default=None)
    return AnswerSummary.from_dict(best["answer"]) if best is not None and best.get("answer") else None


def answer_differences(first: str, a: AnswerSummary, second: str, b: AnswerSummary) -> list[str]:
    """How carrier `second`'s answer differs from carrier `first`'s, one sentence each (none: the same)."""
    out: list[str] = []
    if a.codecs != b.codecs:
        if a.codecs[:1] != b.codecs[:1]:
            out.append(f"codecs: the {second} carrier answers {_list(b.codecs)}, the {first} carrier "
                       f"{_list(a.codecs)}: calls through the {second} carrier start with "
                       f"{b.codecs[0] if b.codecs else 'no audio codec'}, so they may be transcoded or sound different")
        else:
            out.append(f"codecs: the {second} carrier answers {_list(b.codecs)}, the {first} carrier {_list(a.codecs)}")
    if (a.telephone_event is None) != (b.telephone_event is None):
        without, having = (second, first) if b.telephone_event is None else (first, second)
        out.append(f"DTMF: the {without} carrier answers without telephone-event (RFC 4733), so DTMF falls back "
                   f"to SIP INFO or in-band; the {having} carrier offers it")
    elif a.telephone_event is not None and (a.events or "0-15") != (b.events or "0-15"):
        out.append(f"DTMF events: the {second} carrier answers telephone-event {b.events or '0-15 (no fmtp)'}, the "
                   f"{first} carrier {a.events or '0-15 (no fmtp)'}: events outside the smaller set are not carried")
    if (a.ptime or 20) != (b.ptime or 20):  # no ptime: the receiver's default, 20 ms for G.711
        out.append(f"ptime: the {second} carrier answers {_ptime(b.ptime)}, the {first} carrier {_ptime(a.ptime)}")
    suites_a, suites_b = _suites(a.crypto), _suites(b.crypto)
    if suites_a != suites_b:
        if not suites_a or not suites_b:
            plain, secure = (first, second) if not suites_a else (second, first)
            suites = _list(suites_a or suites_b)
            out.append(f"SRTP: the {secure} carrier answers with crypto ({suites}), the {plain} carrier without "
                       "(plain RTP)")
        else:
            out.append(f"SRTP: the {second} carrier answers crypto {_list(suites_b)}, the {first} carrier "
                       f"{_list(suites_a)}")
    elif a.profile != b.profile:
        out.append(f"media profile: the {second} carrier answers {b.profile}, the {first} carrier {a.profile}")
    if a.direction != b.direction:
        out.append(f"media direction: the {second} carrier answers {b.direction}, the {first} carrier "
                   f"{a.direction}")
    return out


def _list(items: Sequence[str]) -> str:
    return ", ".join(items) if items else "none"


def _ptime(ptime: int | None) -> str:
    return f"{ptime} ms" if ptime is not None else "no ptime (20 ms by default)"


def _suites(crypto: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted({line.split()[-1] for line in crypto if line.split()}))
