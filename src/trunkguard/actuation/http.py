"""The HTTP client shared by the REST adapters (httpx, async).

- OAuth 2.0 client credentials: the token is cached, renewed 60 s before it expires, and renewed
  once more on a 401.
- Retries within one deadline: 429 and 502/503/504 and connection errors are retried with
  exponential backoff and jitter, honouring Retry-After; every retry of one request sends the
  same headers, so an Idempotency-Key stays the same.
- Anything else is returned to the adapter, which decides what it means.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from trunkguard.errors import AuthError, PlatformError, Refused
from trunkguard.retry import next_wait

RETRY_STATUSES = {429, 502, 503, 504}


class _TokenRetry(PlatformError):
    """The token endpoint failed in a way worth retrying."""


class PlatformHttp:
    def __init__(self, base_url: str, *, client_id: str | None, client_secret: str | None,
                 token_url: str = "/oauth/token",  # noqa: S107 - a path, not a password
                 deadline: float = 10.0, rng: random.Random | None = None,
                 token_form: dict[str, str] | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=httpx.Timeout(deadline))
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_url = token_url  # a path on base_url, or an absolute URL (a separate login host)
        self._token_form = token_form or {"grant_type": "client_credentials"}
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()  # one token request at a time: concurrent callers share it
        self.deadline = deadline
        self._rng = rng or random.Random()
        self.retries = 0

    async def close(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        """Send, retrying what is worth retrying until the deadline. Raises PlatformError."""
        end = time.monotonic() + self.deadline
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            response: httpx.Response | None = None
            try:
                token = await self._bearer(end)
                all_headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
                response = await self._client.request(method, path, json=json, params=params, headers=all_headers,
                                                      timeout=max(0.1, end - time.monotonic()))
            except httpx.TimeoutException:
                raise PlatformError(f"{method} {path}: no answer within the {self.deadline:g}s deadline") from None
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
            except _TokenRetry as exc:
                why = str(exc)
            else:
                if response.status_code == 401 and not refreshed and self._client_id:
                    refreshed = True
                    self._token = None
                    continue
                if response.status_code == 401:
                    raise AuthError(f"{method} {path}: the platform refused our token (401)")
                if response.status_code not in RETRY_STATUSES:
                    return response
                why = f"HTTP {response.status_code}"
            wait = self._backoff(attempt, response)
            if time.monotonic() + wait >= end:
                raise PlatformError(f"{method} {path}: gave up after {attempt} attempts ({why}) at the "
                                    f"{self.deadline:g}s deadline")
            self.retries += 1
            await asyncio.sleep(wait)

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        return next_wait(attempt, self._rng, response.headers.get("Retry-After") if response is not None else None)

    async def _bearer(self, end: float) -> str | None:
        if not self._client_id:
            return None
        if self._token and time.monotonic() < self._token_expires - 60:
            return self._token
        async with self._token_lock:
            if self._token and time.monotonic() < self._token_expires - 60:
                return self._token  # fetched by the caller we waited for
            return await self._fetch_token(end)

    async def _fetch_token(self, end: float) -> str:
        assert self._client_id is not None
        try:
            response = await self._client.post(
                self._token_url, data=self._token_form,
                auth=(self._client_id, self._client_secret or ""), timeout=max(0.1, end - time.monotonic()))
        except httpx.TimeoutException:
            raise PlatformError("token request: no answer before the deadline") from None
        except httpx.TransportError as exc:
            raise _TokenRetry(f"token request failed: {type(exc).__name__}: {exc}") from None
        if response.status_code in RETRY_STATUSES:
            raise _TokenRetry(f"token request answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise AuthError(f"token request refused: HTTP {response.status_code}")
        try:
            body = response.json()
            self._token = str(body["access_token"])
            self._token_expires = time.monotonic() + float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError(f"token answer not understood: {exc}") from None
        return self._token


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """A 2xx JSON object, or the error that says what the platform answered: a 4xx other than 409
    and 429 is a definite refusal; anything else leaves it unknown whether the platform acted."""
    if response.status_code >= 300:
        try:
            message = str(response.json().get("message", "")) or response.text[:200]
        except (ValueError, AttributeError):
            message = response.text[:200]
        status = response.status_code
        kind = Refused if 400 <= status < 500 and status not in (409, 429) else PlatformError
        raise kind(f"{what}: HTTP {status}: {message}")
    try:
        data = response.json()
    except ValueError as exc:
        raise PlatformError(f"{what}: answer is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PlatformError(f"{what}: answer is not a JSON object")
    return data
