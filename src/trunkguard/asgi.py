"""Serve an ASGI app with uvicorn inside the running event loop (the daemon's API, the lab, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn

from trunkguard.errors import ListenError


@contextlib.asynccontextmanager
async def serving(app: Any, host: str, port: int, *, start_timeout: float = 10.0, certfile: Path | None = None,
                  keyfile: Path | None = None) -> AsyncIterator[uvicorn.Server]:
    """Start serving `app` on host:port (HTTPS with `certfile` and `keyfile`), yield once it accepts
    connections, stop it on exit.

    The socket is bound here, so a port in use is a clear ListenError rather than uvicorn's
    sys.exit; and uvicorn's own signal handling is turned off: the caller owns SIGTERM."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                            ssl_certfile=str(certfile) if certfile else None,
                            ssl_keyfile=str(keyfile) if keyfile else None)
    try:
        config.load()  # the certificate is read now: a bad file is a clear refusal, not a dead server task
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        sock.close()
        raise ListenError(f"cannot serve HTTPS on {host}:{port} with {certfile}: {exc}") from None
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name=f"http {host}:{port}")
    loop = asyncio.get_running_loop()
    end = loop.time() + start_timeout
    while not server.started:
        if task.done():
            failure = task.exception() if not task.cancelled() else None
            raise ListenError(f"cannot listen on {host}:{port}: {failure or 'the server stopped'}")
        if loop.time() > end:
            task.cancel()
            raise ListenError(f"cannot listen on {host}:{port}: not started within {start_timeout:g}s")
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 5.0)
        sock.close()
