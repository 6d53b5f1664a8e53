"""What a notification is and the one-method protocol every destination implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from trunkguard.errors import NotifyError
from trunkguard.retry import retry_after

# Notifications that end an incident: the dedup key's open alert is resolved or closed.
RESOLVING = frozenset({"failback_committed", "activation_cancelled", "store_reachable"})
# A person took the incident (`trunkguard ack`): the open alert is acknowledged.
ACKNOWLEDGING = frozenset({"acknowledged"})


@dataclass(frozen=True)
class Alert:
    kind: str            # the decision core's Notify kind, e.g. swap_committed
    severity: str        # info | warning | critical
    message: str
    dedup_key: str       # one incident per carrier pair, e.g. trunkguard/tg-primary
    at: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def resolves(self) -> bool:
        return self.kind in RESOLVING

    @property
    def acknowledges(self) -> bool:
        return self.kind in ACKNOWLEDGING


class Sender(Protocol):
    name: str
    min_severity: str  # info | warning | critical

    async def send(self, alert: Alert, http: httpx.AsyncClient) -> None:
        """Deliver one alert or raise NotifyError (retryable or not)."""


__all__ = ["ACKNOWLEDGING", "RESOLVING", "Alert", "NotifyError", "Sender", "check_response"]


def check_response(name: str, response: httpx.Response) -> None:
    """2xx is delivered; 429 and 5xx are worth retrying (honouring Retry-After); the rest are not."""
    if 200 <= response.status_code < 300:
        return
    wait = retry_after(response.headers.get("Retry-After"))
    retryable = response.status_code == 429 or response.status_code >= 500
    raise NotifyError(f"{name}: HTTP {response.status_code}: {response.text[:200]}", retryable=retryable,
                      retry_after=wait)
