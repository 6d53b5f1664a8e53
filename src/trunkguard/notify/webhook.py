"""A generic webhook: the alert as JSON, for anything else that listens."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import httpx

from trunkguard.notify.base import Alert, check_response


@dataclass
class Webhook:
    url: str
    name: str = "webhook"
    min_severity: str = "info"

    async def send(self, alert: Alert, http: httpx.AsyncClient) -> None:
        body = {**asdict(alert), "resolves": alert.resolves, "acknowledges": alert.acknowledges, "source": "trunkguard"}
        check_response(self.name, await http.post(self.url, json=body))
