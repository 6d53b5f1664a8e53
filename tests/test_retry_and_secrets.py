"""The one retry helper (Retry-After in both of its forms) and the one secret reader."""

from __future__ import annotations

import email.utils
import random
import time

import pytest

from trunkguard.credentials import Secrets
from trunkguard.errors import ConfigError
from trunkguard.retry import backoff, next_wait, retry_after


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    assert retry_after("120", now) == 120.0 and retry_after("1.5", now) == 1.5
    assert retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == 30.0
    assert retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0  # already past
    assert retry_after("soon", now) is None and retry_after(None, now) is None and retry_after("", now) is None
    assert retry_after("99999", now) == 300.0  # capped: the caller's deadline decides beyond that


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    waits = [backoff(n, rng) for n in range(1, 10)]
    assert 0.1 <= waits[0] <= 0.2 and 0.2 <= waits[1] <= 0.4 and all(w <= 8.0 for w in waits)
    assert next_wait(1, rng, email.utils.formatdate(time.time() + 5, usegmt=True)) == pytest.approx(5.0, abs=1.1)


async def test_the_platform_client_honours_an_http_date_retry_after() -> None:
    """The copy in the platform client ignored the HTTP-date form and retried at once."""
    import httpx

    from trunkguard.actuation.http import PlatformHttp

    calls: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return httpx.Response(503, headers={"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)})
        return httpx.Response(200, json={"ok": True})

    http = PlatformHttp("http://platform.test", client_id=None, client_secret=None, deadline=10)
    http._client = httpx.AsyncClient(base_url="http://platform.test", transport=httpx.MockTransport(answer))
    try:
        response = await http.request("GET", "/x")
    finally:
        await http.close()
    assert response.status_code == 200 and len(calls) == 2
    assert calls[1] - calls[0] >= 0.9  # waited for the date (to the second), not the 0.1-0.2 s backoff


def test_secrets_name_every_missing_variable_never_a_value() -> None:
    secrets = Secrets({"SET": "s3cret", "EMPTY": ""})
    assert secrets.get("platform.client_id_env", "SET") == "s3cret"
    assert secrets.get("platform.client_secret_env", None) is None
    assert secrets.get("notify[0].routing_key_env", "EMPTY") is None
    assert secrets.get("api.token_env", "MISSING", "the API's actions need a token") is None
    with pytest.raises(ConfigError) as info:
        secrets.check()
    assert info.value.problems == [("notify[0].routing_key_env", "environment variable EMPTY is not set"),
                                   ("api.token_env", "environment variable MISSING is not set (the API's actions "
                                                     "need a token)")]
    assert "s3cret" not in str(info.value)
    secrets.check()  # the problems were reported once
