"""Slack incoming webhook: one message per notification."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from trunkguard.notify.base import Alert, check_response

ICON = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


@dataclass
class Slack:
    webhook_url: str
    name: str = "slack"
    min_severity: str = "info"

    async def send(self, alert: Alert, http: httpx.AsyncClient) -> None:
        text = f"{ICON.get(alert.severity, '')} *trunkguard* {alert.kind}: {alert.message}".strip()
        check_response(self.name, await http.post(self.webhook_url, json={"text": text}))
