"""AWS Lambda: one `trunkguard cycle` per invocation, on an EventBridge schedule (rate(1 minute)).

Package trunkguard and this file (a container image from the repository's Dockerfile with
`CMD ["handler.handler"]` on the AWS base image, or a zip with its dependencies), and set:
  TRUNKGUARD_CONFIG         the config's path in the package (storage.url must be PostgreSQL the
                            function reaches: Lambda has no disk that outlives a run)
  TRUNKGUARD_CYCLE_DEADLINE seconds (default 50; keep it under the function's timeout)
  and the secrets the config names (platform, notifications), from Secrets Manager or encrypted
  environment variables.
A run that could not finish, or whose swap failed, raises: Lambda's Errors metric counts it.
docs/deployment.md ("On a schedule") says what detection time a schedule gives.
"""

from __future__ import annotations

from typing import Any

from trunkguard.cli.cycle_cmd import scheduled


def handler(event: dict[str, Any], context: Any) -> dict[str, object]:
    return scheduled()
