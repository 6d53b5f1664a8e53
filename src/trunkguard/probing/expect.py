"""How a DID sweep's 200 OK proves it came from the contact center and not from someone else (a
carrier's announcement server, a misrouted number's owner, an IVR that answers everything).

- `tone`: the answered call must carry the tone the contact center's flow plays to trunkguard's
  test calls (matched there by the sweep's calling number), within the given seconds.
- `sdp_address`, `contact`, `server`: regular expressions searched in the SDP answer's connection
  address, the 200's Contact header and its Server header (User-Agent when there is no Server);
  for deployments where answers are not relayed by a B2BUA that rewrites them.

A 200 that does not prove itself fails its DID with a reason naming what was missing, e.g.
"answered 200, but not by the contact center: no 1004 Hz tone within 3 s (heard other audio)".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trunkguard.probing.sip_invite import CallResult
from trunkguard.probing.tone import ToneExpectation

_HEARD = {"other audio": "heard other audio", "silence": "heard silence", "no audio": "no audio came back"}


@dataclass(frozen=True)
class AnswerExpectation:
    tone: ToneExpectation | None = None
    sdp_address: re.Pattern[str] | None = None
    contact: re.Pattern[str] | None = None
    server: re.Pattern[str] | None = None


def unproven(result: CallResult, expect: AnswerExpectation) -> str | None:
    """Why an answered call does not prove it reached the contact center; None when it does."""
    missing: list[str] = []
    if expect.tone is not None and result.heard != "tone":
        heard = _HEARD.get(result.heard or "no audio", "no audio came back")
        missing.append(f"no {expect.tone.hz:g} Hz tone within {expect.tone.within:g} s ({heard})")
    checks = (("the SDP answer's address", result.answer.address if result.answer else None, expect.sdp_address,
               "sdp_address"),
              ("Contact", result.contact, expect.contact, "contact"),
              ("Server", result.server, expect.server, "server"))
    for what, value, pattern, key in checks:
        if pattern is None:
            continue
        if value is None:
            missing.append(f"no {what} to match {key} {pattern.pattern!r}")
        elif not pattern.search(value):
            missing.append(f"{what} {value!r} does not match {key} {pattern.pattern!r}")
    if not missing:
        return None
    return f"answered {result.code or 200}, but not by the contact center: " + "; ".join(missing)
