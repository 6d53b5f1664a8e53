"""Certificates rotate without a restart (the guide's edge case 3), and SPKI pinning per trunk.

Against a real TLS SIP peer (kamailio with its TLS module): a trunk's CA file replaced on disk is used
at the next probe, by the same probe and the same SIP client (nothing rebuilt), whether the peer was
re-issued by a new CA or keeps its connection open; SIGHUP reads files that look unchanged again;
`tls.pin_sha256` against the peer's public key (reckoned by the openssl command line, not by
trunkguard) fails the probe under `enforce` and is only logged under `report`; `certs` shows the pin
result. Without kamailio these skip on a laptop and fail under CI=true."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.kamailio import KamailioTls, need_kamailio
from trunkguard.app import stop_on_signals
from trunkguard.config import Config, parse_config
from trunkguard.config_checks import check_sweep
from trunkguard.lab.certs import CertFiles, make_ca, make_leaf
from trunkguard.probing.result import ProbeResult
from trunkguard.probing.sip_options import OptionsCheck, probe_options
from trunkguard.probing.tls_files import TlsContexts, TlsFiles, signature
from trunkguard.readiness import CheckResult
from trunkguard.rules import options_check
from trunkguard.runtime.pollers import cert_pages
from trunkguard.sip.client import SipClient

MINIMAL = (Path(__file__).resolve().parent / "configs" / "minimal.yaml").read_text()
DID = "+15550000001"


@dataclass(frozen=True)
class Pki:
    ca: CertFiles
    server: CertFiles     # the peer's certificate, from `ca`
    new_ca: CertFiles
    reissued: CertFiles   # the peer's next certificate, from `new_ca`


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    folder = Path(tempfile.mkdtemp(prefix="tg-rotation-pki-"))
    try:
        ca, new_ca = make_ca(folder / "ca"), make_ca(folder / "new-ca", name="carrier's new CA")
        yield Pki(ca, make_leaf(folder / "server", ca, names=["127.0.0.1"]), new_ca,
                  make_leaf(folder / "reissued", new_ca, names=["127.0.0.1"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def kamailio() -> Iterator[Callable[[CertFiles, int], KamailioTls]]:
    """Start kamailio on TLS with a server certificate (no client certificate asked); all stopped after."""
    binary = need_kamailio("the certificate rotation and pinning tests need a real TLS SIP peer")
    started: list[KamailioTls] = []

    def start(server: CertFiles, port: int) -> KamailioTls:
        peer = KamailioTls.start(binary, port, server)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def _config(uri: str, tls: dict[str, Any], extra: str = "") -> Config:
    trunk = f'{{name: secondary-1, uri: "{uri}", tls: {json.dumps(tls)}}}'
    text = MINIMAL.replace('- {name: secondary-1, uri: "sip:127.0.0.1:5072"}', f"- {trunk}")
    assert trunk in text
    return parse_config(text + extra)


def _check(cfg: Config) -> OptionsCheck:
    carrier = cfg.carriers["secondary"]
    return options_check(carrier, carrier.trunks[0])


def _replace(path: Path, source: Path) -> None:
    """Put new contents at `path` as deployment tools do: a new file renamed over the old one."""
    new = path.with_suffix(".new")
    shutil.copyfile(source, new)
    os.replace(new, path)


def _spki_by_openssl(cert: Path) -> str:
    """The pin as the usual recipe makes it: openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256."""
    pubkey = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(cert)], capture_output=True,
                            check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pubkey, capture_output=True,
                         check=True).stdout
    out = subprocess.run(["openssl", "dgst", "-sha256", "-r"], input=der, capture_output=True, check=True).stdout
    return out.decode().split()[0]


async def _probe(client: SipClient, check: OptionsCheck) -> ProbeResult:
    return await probe_options(client, check)


# ---- rotation -------------------------------------------------------------------------------------


async def test_a_replaced_ca_file_is_used_at_the_next_probe_after_the_peer_is_reissued(
        kamailio: Callable[[CertFiles, int], KamailioTls], pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    peer = kamailio(pki.server, port)
    ca_file = tmp_path / "carrier-ca.pem"
    shutil.copyfile(pki.ca.cert, ca_file)
    check = _check(_config(peer.uri, {"ca_file": str(ca_file)}))
    async with SipClient() as client:
        first = await _probe(client, check)
        assert first.success, first.reason
        # the carrier re-issues its SBC's certificate from its new CA and restarts it
        await asyncio.to_thread(peer.stop)
        await asyncio.to_thread(kamailio, pki.reissued, port)
        await asyncio.sleep(0.2)
        refused = await _probe(client, check)
        assert not refused.success and "did not verify" in str(refused.reason), refused.reason
        _replace(ca_file, pki.new_ca.cert)  # the operator deploys the new CA file; nothing is restarted
        after = await _probe(client, check)
        assert after.success, after.reason


async def test_a_connection_made_with_files_since_replaced_is_not_used_again(
        kamailio: Callable[[CertFiles, int], KamailioTls], pki: Pki, tmp_path: Path) -> None:
    peer = kamailio(pki.server, free_port())
    ca_file = tmp_path / "carrier-ca.pem"
    shutil.copyfile(pki.ca.cert, ca_file)
    check = _check(_config(peer.uri, {"ca_file": str(ca_file)}))
    async with SipClient() as client:
        assert (await _probe(client, check)).success  # the connection stays open
        _replace(ca_file, pki.new_ca.cert)  # a CA that did not issue the peer's certificate
        refused = await _probe(client, check)
        assert not refused.success and "did not verify" in str(refused.reason), refused.reason
        _replace(ca_file, pki.ca.cert)
        again = await _probe(client, check)
        assert again.success, again.reason


async def test_sighup_reads_the_files_again_even_when_they_look_unchanged(
        kamailio: Callable[[CertFiles, int], KamailioTls], pki: Pki, tmp_path: Path) -> None:
    peer = kamailio(pki.server, free_port())
    ca_file = tmp_path / "carrier-ca.pem"
    old, new = pki.ca.cert.read_bytes(), pki.new_ca.cert.read_bytes()
    size = max(len(old), len(new))
    ca_file.write_bytes(old.ljust(size, b"\n"))  # text after the PEM block is ignored
    check = _check(_config(peer.uri, {"ca_file": str(ca_file)}))
    loop = asyncio.get_running_loop()
    async with SipClient() as client:
        assert (await _probe(client, check)).success
        before = ca_file.stat()
        with ca_file.open("r+b") as out:  # rewritten in place: same inode, same size, same mtime
            out.write(new.ljust(size, b"\n"))
        os.utime(ca_file, ns=(before.st_atime_ns, before.st_mtime_ns))
        files = TlsFiles(ca_file=ca_file)
        assert signature(files) == ((before.st_mtime_ns, before.st_size, before.st_ino),)
        still = await _probe(client, check)
        assert still.success, "files that look unchanged are not read again before SIGHUP"
        stop = asyncio.Event()
        stop_on_signals(stop)
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            await asyncio.sleep(0.1)
            refused = await _probe(client, check)
        finally:
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        assert not stop.is_set()
        assert not refused.success and "did not verify" in str(refused.reason), refused.reason


def test_the_context_cache_follows_the_files(pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ca_file = tmp_path / "ca.pem"
    shutil.copyfile(pki.ca.cert, ca_file)
    contexts, files = TlsContexts(), TlsFiles(ca_file=ca_file)
    first = contexts.context(files)
    assert contexts.context(files) is first  # unchanged files: the same context
    _replace(ca_file, pki.new_ca.cert)
    second = contexts.context(files)
    assert second is not first and first.current() is second  # the old one leads to the newest
    ca_file.write_text("half a certificate")
    with caplog.at_level(logging.WARNING, logger="trunkguard.tls"):
        assert contexts.context(files) is second  # files that do not load: the previous ones stay
    assert "do not load" in caplog.text and str(ca_file) in caplog.text
    contexts.reload()
    _replace(ca_file, pki.new_ca.cert)
    assert contexts.context(files) is not second


# ---- pinning --------------------------------------------------------------------------------------


async def test_an_enforced_pin_passes_the_peers_key_and_fails_any_other(
        kamailio: Callable[[CertFiles, int], KamailioTls], pki: Pki) -> None:
    peer = kamailio(pki.server, free_port())
    spki = _spki_by_openssl(pki.server.cert)
    pinned = _check(_config(peer.uri, {"ca_file": str(pki.ca.cert), "pin_sha256": [spki.upper()],
                                       "pin_mode": "enforce"}))
    wrong = _check(_config(peer.uri, {"ca_file": str(pki.ca.cert), "pin_sha256": ["0" * 64],
                                      "pin_mode": "enforce"}))
    async with SipClient() as client:
        ok = await _probe(client, pinned)
        refused = await _probe(client, wrong)
    assert ok.success, ok.reason
    assert not refused.success
    assert f"does not match tls.pin_sha256: its public key's SHA-256 is {spki}" in str(refused.reason)


async def test_a_reported_pin_mismatch_is_logged_once_and_the_probe_goes_on(
        kamailio: Callable[[CertFiles, int], KamailioTls], pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    peer = kamailio(pki.server, free_port())
    check = _check(_config(peer.uri, {"ca_file": str(pki.ca.cert), "pin_sha256": ["ab" * 32]}))  # report
    with caplog.at_level(logging.WARNING, logger="trunkguard.tls"):
        for _ in range(2):  # two clients: two handshakes
            async with SipClient() as client:
                result = await _probe(client, check)
                assert result.success, result.reason
    lines = [r.getMessage() for r in caplog.records if "tls.pin_sha256" in r.getMessage()]
    assert len(lines) == 1 and _spki_by_openssl(pki.server.cert) in lines[0] and "pin_mode report" in lines[0]


async def test_the_sweep_takes_the_trunks_pins_too(kamailio: Callable[[CertFiles, int], KamailioTls],
                                                   pki: Pki) -> None:
    peer = kamailio(pki.server, free_port())
    cfg = _config(peer.uri, {"ca_file": str(pki.ca.cert), "pin_sha256": ["cd" * 32], "pin_mode": "enforce"},
                  f'    dids: ["{DID}"]\n    sweep: {{cps: 5, concurrency: 1, timeout: 3s}}\n')
    swept = await check_sweep(cfg)
    [failed] = swept.result["failed"]
    assert swept.ok is False and "does not match tls.pin_sha256" in str(failed["reason"]), failed


def _certs_cli(folder: Path, uri: str, tls: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str],
                                                                     subprocess.CompletedProcess[str]]:
    trunk = f'{{name: secondary-1, uri: "{uri}", tls: {json.dumps(tls)}}}'
    config = folder / "trunkguard.yaml"
    config.write_text(MINIMAL.replace('- {name: secondary-1, uri: "sip:127.0.0.1:5072"}', f"- {trunk}")
                      + f'storage: {{url: "sqlite:///{folder}/tg.db"}}\n')
    run = [sys.executable, "-m", "trunkguard", "certs", "--config", str(config)]
    env = {**os.environ, "NO_COLOR": "1"}
    return (subprocess.run([*run, "--json"], capture_output=True, text=True, check=False, timeout=60, env=env),
            subprocess.run(run, capture_output=True, text=True, check=False, timeout=60, env=env))


@pytest.mark.parametrize(("pin", "mode", "code", "result", "shown"), [
    ("peer", "enforce", 0, "match", "; pin: matches"),
    ("other", "report", 0, "mismatch", "; pin: MISMATCH (report only: probes go on), public key SHA-256 {spki}"),
    ("other", "enforce", 1, "mismatch", "; pin: MISMATCH (enforced: probes fail)"),
])
def test_certs_shows_the_pin_result(kamailio: Callable[[CertFiles, int], KamailioTls], pki: Pki, tmp_path: Path,
                                    pin: str, mode: str, code: int, result: str, shown: str) -> None:
    peer = kamailio(pki.server, free_port())
    spki = _spki_by_openssl(pki.server.cert)
    as_json, text = _certs_cli(tmp_path, peer.uri, {"ca_file": str(pki.ca.cert), "pin_mode": mode,
                                                     "pin_sha256": [spki if pin == "peer" else "9" * 64]})
    assert (as_json.returncode, text.returncode) == (code, code), as_json.stdout + as_json.stderr
    [row] = json.loads(as_json.stdout)["certs"]
    assert (row["pin"], row["pin_mode"], row["spki_sha256"]) == (result, mode, spki)
    assert shown.format(spki=spki) in text.stdout, text.stdout
    if code:
        assert "matches none of tls.pin_sha256 (pin_mode enforce)" in row["error"] and spki in row["error"]


def test_a_reported_pin_mismatch_pages_a_warning_and_an_enforced_one_a_failure() -> None:
    def certs(**extra: Any) -> CheckResult:
        cert = {"trunk": "s1", "not_after": "2027-01-01T00:00:00+00:00", "days_left": 300.0, "chain_ok": True,
                "hostname_ok": True, "pin": "mismatch", "spki_sha256": "ab" * 32, **extra}
        return CheckResult("certs", "secondary", True, time.time(), "", {"certs": [cert]})

    [page] = cert_pages(certs(pin_mode="report"), 14)
    assert (page.kind, page.severity) == ("cert_pin", "warning")
    assert page.message == ("TLS certificate pin mismatch (pin_mode report: probes go on): s1: public key SHA-256 "
                            f"{'ab' * 32} matches none of tls.pin_sha256")
    [page] = cert_pages(certs(pin_mode="enforce", error="its public key matches none of tls.pin_sha256"), 14)
    assert (page.kind, page.severity) == ("cert_failed", "critical")
