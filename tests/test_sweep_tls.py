"""The DID sweep against a TLS secondary (a real peer: kamailio with its TLS module, mutual TLS), by
the `sweep` command and by the daemon's re-check; and the sweep's CSV naming every DID's SIP code.

Without kamailio these skip on a laptop and fail under CI=true (make test installs kamailio and
kamailio-tls-modules)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sipp, free_port
from tests.kamailio import KamailioTls, need_kamailio
from trunkguard.config import load_config
from trunkguard.config_checks import check_sweep
from trunkguard.lab.certs import CertFiles, make_ca, make_leaf

MINIMAL = (Path(__file__).resolve().parent / "configs" / "minimal.yaml").read_text()
GOOD, ALSO_GOOD, UNROUTED = "+15550000001", "+15550000002", "+15550000404"


@dataclass(frozen=True)
class Pki:
    ca: CertFiles
    server: CertFiles
    client: CertFiles
    other_ca: CertFiles  # a CA the peer's certificate is not from


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    folder = Path(tempfile.mkdtemp(prefix="tg-sweep-pki-"))
    try:
        ca = make_ca(folder / "ca")
        yield Pki(ca, make_leaf(folder / "server", ca, names=["127.0.0.1"]),
                  make_leaf(folder / "client", ca, names=["trunkguard.lab.test"], stem="client", client=True),
                  make_ca(folder / "other", name="some other CA"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def kamailio(pki: Pki) -> Iterator[KamailioTls]:
    """kamailio on TLS only, requiring a client certificate from the lab CA; 404 for UNROUTED."""
    binary = need_kamailio("the TLS sweep tests need a real TLS SIP peer")
    peer = KamailioTls.start(binary, free_port(), pki.server, client_ca=pki.ca, client=pki.client,
                             reject={UNROUTED: (404, "Not Found")})
    try:
        yield peer
    finally:
        peer.stop()


def _config(folder: Path, uri: str, dids: list[str], tls: dict[str, Any] | None) -> Path:
    trunk = f'{{name: secondary-1, uri: "{uri}"' + (f", tls: {json.dumps(tls)}}}" if tls is not None else "}")
    text = MINIMAL.replace('- {name: secondary-1, uri: "sip:127.0.0.1:5072"}', f"- {trunk}")
    assert trunk in text
    text += f"    dids: {json.dumps(dids)}\n    sweep: {{cps: 50, concurrency: 10, timeout: 5s}}\n"
    text += f'storage: {{url: "sqlite:///{folder}/trunkguard.db"}}\n'
    path = folder / "trunkguard.yaml"
    path.write_text(text)
    return path


def _mutual(pki: Pki, **changes: Any) -> dict[str, Any]:
    """The trunk's `tls` settings that kamailio accepts: the lab CA, and a client certificate."""
    settings: dict[str, Any] = {"ca_file": str(pki.ca.cert), "cert_file": str(pki.client.cert),
                                "key_file": str(pki.client.key), "verify": True}
    settings.update(changes)
    return {k: v for k, v in settings.items() if v is not None}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True,
                          check=False, timeout=60, env={**os.environ, "NO_COLOR": "1"})


# ---- the `sweep` command -----------------------------------------------------------------------


def test_sweep_command_calls_a_tls_secondary_with_the_trunks_tls_settings(
        kamailio: KamailioTls, pki: Pki, tmp_path: Path) -> None:
    config = _config(tmp_path, kamailio.uri, [GOOD, UNROUTED, ALSO_GOOD], _mutual(pki))
    out = tmp_path / "sweep.csv"
    result = _cli("sweep", "--config", str(config), "--json", "--csv", str(out))
    assert result.returncode == 1, result.stdout + result.stderr  # one DID is not routed
    data = json.loads(result.stdout)
    assert (data["carrier"], data["total"], data["answered"], data["ok"]) == ("secondary", 3, 2, False), data
    assert data["failed"] == [{"did": UNROUTED, "code": 404, "reason": "Not Found"}]
    rows = [(r["did"], r["ok"], r["code"], r["reason"]) for r in csv.DictReader(out.open())]
    assert rows == [(GOOD, "True", "200", ""), (UNROUTED, "False", "404", "Not Found"),
                    (ALSO_GOOD, "True", "200", "")]


def test_sweep_command_passes_when_every_did_answers_over_tls(kamailio: KamailioTls, pki: Pki,
                                                              tmp_path: Path) -> None:
    config = _config(tmp_path, kamailio.uri, [GOOD, ALSO_GOOD], _mutual(pki))
    result = _cli("sweep", "--config", str(config), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert (data["answered"], data["total"], data["failed"], data["ok"]) == (2, 2, [], True)


# ---- the daemon's re-check (runtime/pollers.py runs readiness.check_sweep) --------------------------


def test_daemon_recheck_sweeps_a_tls_secondary(kamailio: KamailioTls, pki: Pki, tmp_path: Path) -> None:
    mixed = load_config(_config(tmp_path, kamailio.uri, [GOOD, UNROUTED], _mutual(pki)))
    checked = asyncio.run(check_sweep(mixed))
    assert (checked.check, checked.carrier, checked.ok) == ("sweep", "secondary", False)
    assert checked.summary == "1/2 DIDs answered"
    assert checked.result["failed"] == [{"did": UNROUTED, "code": 404, "reason": "Not Found"}]

    passing = load_config(_config(tmp_path, kamailio.uri, [GOOD, ALSO_GOOD], _mutual(pki)))
    checked = asyncio.run(check_sweep(passing))
    assert checked.ok is True and checked.summary == "2/2 DIDs answered", checked.result


@pytest.mark.parametrize(("changes", "expect"), [
    ({"ca_file": None}, "did not verify"),                    # the system CAs do not know the lab CA
    ({"ca_file": "other"}, "did not verify"),                 # ... nor does another CA
    ({"ca_file": None, "verify": False}, None),               # verify: false accepts the peer as it is
    ({"cert_file": None, "key_file": None}, "certificate required"),  # kamailio requires a client one
])
def test_the_sweep_uses_each_of_the_trunks_tls_settings(kamailio: KamailioTls, pki: Pki, tmp_path: Path,
                                                        changes: dict[str, Any], expect: str | None) -> None:
    if changes.get("ca_file") == "other":
        changes = {**changes, "ca_file": str(pki.other_ca.cert)}
    cfg = load_config(_config(tmp_path, kamailio.uri, [GOOD], _mutual(pki, **changes)))
    checked = asyncio.run(check_sweep(cfg))
    if expect is None:
        assert checked.ok is True, checked.result
        return
    assert checked.ok is False
    [failed] = checked.result["failed"]
    assert failed["did"] == GOOD and failed["code"] is None
    assert expect in failed["reason"] and "needs a TLS context" not in failed["reason"], failed


def test_tls_files_that_cannot_be_loaded_fail_every_did_with_the_reason(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: the files are read before any connection
    config = _config(tmp_path, f"sip:127.0.0.1:{port};transport=tls", [GOOD, UNROUTED],
                     {"ca_file": str(tmp_path / "missing-ca.pem")})
    checked = asyncio.run(check_sweep(load_config(config)))
    assert checked.ok is False and [f["did"] for f in checked.result["failed"]] == [GOOD, UNROUTED]
    assert all("secondary-1: cannot load TLS files" in str(f["reason"]) for f in checked.result["failed"])
    result = _cli("sweep", "--config", str(config), "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["answered"] == 0


# ---- the CSV -----------------------------------------------------------------------------------


def test_sweep_csv_names_the_sip_code_of_passing_dids(sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    dids = ["+15550000001", "+15550000404", "+15550000002"]
    sipp = sipp_uas("udp", scenario="uas_invite_carrier.xml", extra=["-m", str(len(dids))])
    config = _config(tmp_path, f"sip:127.0.0.1:{sipp.port}", dids, None)
    out = tmp_path / "sweep.csv"
    result = _cli("sweep", "--config", str(config), "--csv", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    rows = [(r["did"], r["ok"], r["code"]) for r in csv.DictReader(out.open())]
    assert rows == [("+15550000001", "True", "200"), ("+15550000404", "False", "404"),
                    ("+15550000002", "True", "200")]
    assert sipp.process.wait(10) == 0
