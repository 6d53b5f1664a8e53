"""The platform emulator as a process of its own, for a test host in a network namespace: serves on
127.0.0.1:PORT inside the namespace, and writes each applied write (key and time) to a JSON file
the test reads, since the test cannot reach into the namespace's loopback.

    python -m tests.nsplatform PORT STATE_FILE
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from trunkguard.asgi import serving
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

RULE = "rule-inbound-1"


async def main(port: int, out: Path) -> None:
    state = EmulatorState(rules={RULE: default_rule(RULE, "tg-primary")}, calls={"primary_inbound_queue_id": 0})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    applied: list[tuple[str, float]] = []

    def dump() -> None:  # whole or not at all: the test may read it at any moment
        part = out.with_suffix(".part")
        part.write_text(json.dumps({"ready": True, "applied": applied}))
        part.replace(out)
    dump()
    async with serving(create_app(state), "127.0.0.1", port):
        while not stop.is_set():
            if len(state.applied_keys) > len(applied):
                applied.extend((k, time.time()) for k in state.applied_keys[len(applied):])
                dump()
            await asyncio.sleep(0.01)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
