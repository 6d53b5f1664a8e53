"""Opsgenie Alert API v2 (base URL configurable: its successor is Jira Service Management's API).

Create: POST /v2/alerts with `alias` as the dedup key; acknowledge and close: POST
/v2/alerts/{alias}/acknowledge|close?identifierType=alias. Auth: `Authorization: GenieKey <key>`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import httpx

from trunkguard.notify.base import Alert, check_response

PRIORITY = {"critical": "P1", "warning": "P3", "info": "P5"}


@dataclass
class Opsgenie:
    api_key: str
    base_url: str = "https://api.opsgenie.com"
    name: str = "opsgenie"
    min_severity: str = "warning"

    async def send(self, alert: Alert, http: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"GenieKey {self.api_key}"}
        base = self.base_url.rstrip("/")
        if alert.resolves or alert.acknowledges:
            alias = urllib.parse.quote(alert.dedup_key, safe="")
            verb = "close" if alert.resolves else "acknowledge"
            response = await http.post(f"{base}/v2/alerts/{alias}/{verb}", params={"identifierType": "alias"},
                                       json={"source": "trunkguard", "note": alert.message[:1000]}, headers=headers)
        else:
            response = await http.post(f"{base}/v2/alerts", headers=headers, json={
                "message": alert.message[:130], "alias": alert.dedup_key, "description": alert.message[:15000],
                "priority": PRIORITY.get(alert.severity, "P3"), "source": "trunkguard",
                "tags": ["trunkguard", alert.kind], "details": {k: str(v) for k, v in alert.details.items()}})
        check_response(self.name, response)
