"""`api.metrics_listen`: a plain-HTTP port with /metrics, /healthz and /leader only, beside an API that
stays behind TLS; /metrics served by prometheus_client's ASGI app (gzip, OpenMetrics); the probe
counters' four results, each counted from real SIP peers. Real sockets throughout: the lab's carriers
and platform emulator, the daemon's own listeners."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.conftest import eventually
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.lab.certs import CertFiles
from trunkguard.lab.lab import Lab, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault, SipResponder
from trunkguard.runtime.probes import media_outcome

TOKEN, READ = "operator-token", "read-token"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"  # newer libraries add "; escaping=..."


@asynccontextmanager
async def daemon(tmp: Path, text: str) -> AsyncIterator[Service]:
    (tmp / "tg.yaml").write_text(text)
    cfg = parse_config(text, base_dir=tmp)
    await run_readiness(cfg)
    service = Service.build(cfg, {**lab_environment(TOKEN), "TG_READ": READ})
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await eventually(lambda: service.status().leader or task.done(), "the lease")
        assert not task.done(), task.exception()
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def tls_api(lab: Lab, tmp: Path, api_port: int, metrics_port: int, ca: CertFiles, leaf: CertFiles) -> str:
    """The lab's config with the API off loopback behind TLS (as the config requires) and the metrics port."""
    text = lab.config_text("fast", storage=f"sqlite:///{tmp}/tg.db", api_listen="127.0.0.1:1")
    return text.replace('api: {listen: "127.0.0.1:1", token_env: TRUNKGUARD_API_TOKEN}',
                        f'api: {{listen: "0.0.0.0:{api_port}", token_env: TRUNKGUARD_API_TOKEN, '
                        f'read_token_env: TG_READ, metrics_listen: "0.0.0.0:{metrics_port}", '
                        f'tls: {{cert_file: "{leaf.cert}", key_file: "{leaf.key}", ca_file: "{ca.cert}"}}}}')


async def test_the_metrics_port_serves_three_paths_in_plain_http_and_the_api_stays_behind_tls(
        tmp_path: Path, lab_ca: CertFiles, lab_leaf: CertFiles) -> None:
    api_port, metrics_port = free_tcp_port(), free_tcp_port()
    async with running_lab() as lab, daemon(tmp_path, tls_api(lab, tmp_path, api_port, metrics_port, lab_ca,
                                                               lab_leaf)) as service:
        await eventually(lambda: service.status().samples.recent.get("carrier-a-1"), "a probe")
        plain_url, api_url = f"http://127.0.0.1:{metrics_port}", f"https://127.0.0.1:{api_port}"
        async with httpx.AsyncClient(base_url=plain_url, timeout=10) as plain:
            metrics = await plain.get("/metrics")  # no token: a remote Prometheus's scrape
            assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
            assert "trunkguard_leader 1.0" in metrics.text
            assert 'trunkguard_probes_total{carrier="primary",kind="options",result="ok",trunk="carrier-a-1"}' \
                in metrics.text
            assert (await plain.get("/healthz")).json()["ok"] is True
            assert (await plain.get("/leader")).status_code == 200
            for path in ("/api/v1/status", "/api/v1/history", "/api/v1/events", "/api/v1/openapi.json", "/"):
                refused = await plain.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
                assert refused.status_code == 404, (path, refused.text)
                assert set(refused.json()) == {"error", "detail"} and refused.json()["detail"] == path
            action = await plain.post("/api/v1/actions", json={"kind": "pause", "reason": "test"},
                                      headers={"Authorization": f"Bearer {TOKEN}"})
            assert action.status_code == 404
            assert (await plain.post("/metrics")).status_code == 405
        async with httpx.AsyncClient(base_url=api_url, timeout=10,
                                     verify=ssl.create_default_context(cafile=str(lab_ca.cert))) as api:
            status = await api.get("/api/v1/status", headers={"Authorization": f"Bearer {READ}"})
            assert status.status_code == 200 and status.json()["leader"] is True
            assert (await api.get("/metrics")).status_code == 401  # the API's /metrics still wants a token
            scraped = await api.get("/metrics", headers={"Authorization": f"Bearer {READ}"})
            assert scraped.status_code == 200 and "trunkguard_leader 1.0" in scraped.text
            assert (await api.get("/metrics?nonsense=1", headers={"Authorization": f"Bearer {READ}"})
                    ).status_code == 400
        try:  # and the API's port speaks no plain HTTP
            async with httpx.AsyncClient(timeout=5) as clear:
                answer = await clear.get(f"http://127.0.0.1:{api_port}/api/v1/status")
            raise AssertionError(f"the API answered plain HTTP: {answer.status_code}")
        except (httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError):
            pass


async def test_metrics_come_gzipped_or_as_openmetrics_when_the_scraper_asks(tmp_path: Path) -> None:
    metrics_port = free_tcp_port()
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=f"sqlite:///{tmp_path}/tg.db", api_listen=f"127.0.0.1:{free_tcp_port()}")
        text = text.replace("token_env: TRUNKGUARD_API_TOKEN}",
                            f'token_env: TRUNKGUARD_API_TOKEN, metrics_listen: "127.0.0.1:{metrics_port}"}}')
        async with daemon(tmp_path, text), httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}",
                                                             timeout=10) as client:
            async with client.stream("GET", "/metrics", headers={"Accept-Encoding": "gzip"}) as answer:
                raw = b"".join([chunk async for chunk in answer.aiter_raw()])
                assert answer.headers["content-encoding"] == "gzip"
            body = gzip.decompress(raw).decode()
            assert len(raw) < len(body) / 3 and "trunkguard_leader 1.0" in body
            identity = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in identity.headers and "trunkguard_leader 1.0" in identity.text
            assert "# TYPE trunkguard_probes_total counter" in identity.text and "# EOF" not in identity.text

            om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
            assert om.headers["content-type"].startswith(OPENMETRICS)
            assert om.text.endswith("# EOF\n")
            assert "# TYPE trunkguard_probes counter" in om.text  # OpenMetrics names the family without _total ...
            assert 'trunkguard_probes_total{carrier="primary",kind="options",result="ok",trunk="carrier-a-1"}' \
                in om.text  # ... and its samples with it
            assert "# TYPE trunkguard_build info" in om.text

            picked = await client.get("/metrics", params={"name[]": "trunkguard_leader"})
            assert [line for line in picked.text.splitlines() if not line.startswith("#")] == ["trunkguard_leader 1.0"]
            # every series can be picked by name (the registry knows each collector's names)
            def names(text: str) -> set[str]:
                return {line.split("{")[0].split()[0] for line in text.splitlines() if not line.startswith("#")}
            picked = await client.get("/metrics", params=[("name[]", name) for name in sorted(names(identity.text))])
            assert names(identity.text) <= names(picked.text), names(identity.text) - names(picked.text)


async def test_each_probe_result_is_counted_as_ok_timeout_rejected_or_error(tmp_path: Path) -> None:
    """ok: the lab carrier; rejected: a peer answering 503; timeout: a peer that never answers; error: a
    TCP trunk whose port refuses the connection. Every result is exported at 0 before it happens."""
    metrics_port, closed = free_tcp_port(), free_tcp_port()
    rejecting = await SipResponder("127.0.0.1", server_header="rejecting").start()
    rejecting.fault = Fault(code=503)
    try:
        async with running_lab() as lab:
            lab.secondary.fault = Fault(down=True)
            text = lab.config_text("fast", storage=f"sqlite:///{tmp_path}/tg.db",
                                   api_listen=f"127.0.0.1:{free_tcp_port()}")
            text = text.replace(f'trunks: [{{name: carrier-a-1, uri: "{lab.primary.uri}"}}]',
                                f'trunks: [{{name: carrier-a-1, uri: "{lab.primary.uri}"}}, '
                                f'{{name: carrier-a-2, uri: "{rejecting.uri}"}}]')
            text = text.replace(f'trunks: [{{name: carrier-b-1, uri: "{lab.secondary.uri}"}}]',
                                f'trunks: [{{name: carrier-b-1, uri: "{lab.secondary.uri}"}}, '
                                f'{{name: carrier-b-2, uri: "sip:127.0.0.1:{closed};transport=tcp"}}]')
            text = text.replace("token_env: TRUNKGUARD_API_TOKEN}",
                                f'token_env: TRUNKGUARD_API_TOKEN, metrics_listen: "127.0.0.1:{metrics_port}"}}')
            text = text.replace("readiness: {trunks: true, sweep: true, certs: true, parity: true}",
                                "readiness: {trunks: false, sweep: false, certs: false, parity: false}")
            async with daemon(tmp_path, text), httpx.AsyncClient(timeout=10) as client:
                expected = {"carrier-a-1": "ok", "carrier-a-2": "rejected", "carrier-b-1": "timeout",
                            "carrier-b-2": "error"}
                carriers = {"carrier-a-1": "primary", "carrier-a-2": "primary", "carrier-b-1": "secondary",
                            "carrier-b-2": "secondary"}
                counts: dict[tuple[str, str], float] = {}

                async def scrape() -> None:
                    text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
                    for trunk, carrier in carriers.items():
                        for result in ("ok", "timeout", "rejected", "error"):
                            line = (f'trunkguard_probes_total{{carrier="{carrier}",kind="options",result="{result}",'
                                    f'trunk="{trunk}"}} ')
                            found = [x for x in text.splitlines() if x.startswith(line)]
                            assert len(found) == 1, line  # every result, from the start
                            counts[(trunk, result)] = float(found[0].rsplit(" ", 1)[1])

                deadline = asyncio.get_running_loop().time() + 20
                while True:
                    await scrape()
                    if all(counts[(t, r)] > 0 for t, r in expected.items()):
                        break
                    assert asyncio.get_running_loop().time() < deadline, counts
                    await asyncio.sleep(0.5)
                for trunk, result in expected.items():
                    others = [counts[(trunk, r)] for r in ("ok", "timeout", "rejected", "error") if r != result]
                    assert others == [0.0, 0.0, 0.0], (trunk, counts)
    finally:
        await rejecting.stop()


def test_a_test_call_is_counted_by_how_it_failed() -> None:
    """Media: answered without audio, or with audio over its limits, is a failure the peer answered."""
    assert media_outcome("ok", True) == "ok"
    assert media_outcome("ok", False) == "rejected"  # audio over its limits
    assert media_outcome("no_media", False) == "rejected"
    assert media_outcome("rejected", False) == "rejected"
    assert media_outcome("timeout", False) == "timeout"
    assert media_outcome("error", False) == "error"
