"""PagerDuty Events API v2: trigger with a dedup key, acknowledge it when a person takes it
(`trunkguard ack`), resolve the same key when the incident ends.

POST {base_url}/v2/enqueue, no auth header; the integration's routing key is in the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from trunkguard.notify.base import Alert, check_response

SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}


@dataclass
class PagerDuty:
    routing_key: str
    base_url: str = "https://events.pagerduty.com"
    source: str = "trunkguard"
    name: str = "pagerduty"
    min_severity: str = "warning"

    async def send(self, alert: Alert, http: httpx.AsyncClient) -> None:
        body: dict[str, object] = {"routing_key": self.routing_key, "dedup_key": alert.dedup_key}
        if alert.resolves or alert.acknowledges:
            body["event_action"] = "resolve" if alert.resolves else "acknowledge"
        else:
            body["event_action"] = "trigger"
            body["payload"] = {"summary": alert.message[:1024], "source": self.source,
                               "severity": SEVERITY.get(alert.severity, "error"),
                               "timestamp": datetime.fromtimestamp(alert.at, UTC).isoformat(),
                               "component": "sip-carrier", "class": alert.kind, "custom_details": alert.details}
        check_response(self.name, await http.post(f"{self.base_url.rstrip('/')}/v2/enqueue", json=body))
