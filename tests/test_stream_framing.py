"""TCP framing: messages split across reads, CRLF keep-alives, and a reply without Content-Length."""

from __future__ import annotations

import asyncio

from trunkguard.probing.result import ProbeStatus
from trunkguard.probing.sip_options import OptionsCheck, probe_options
from trunkguard.sip.client import SipClient
from trunkguard.sip.message import SipRequest, build_response, parse_message, split_head
from trunkguard.sip.uri import parse_uri


async def _serve(transform: object) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = await reader.read(4096)
            if not chunk:
                return
            buffer += chunk
        request = parse_message(buffer)
        assert isinstance(request, SipRequest)
        assert callable(transform)
        await transform(build_response(request, 200, "OK", to_tag="t"), writer)
        await asyncio.sleep(0.5)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _probe(port: int) -> tuple[ProbeStatus, str | None, int]:
    async with SipClient() as client:
        result = await probe_options(client, OptionsCheck(
            "tcp", parse_uri(f"sip:127.0.0.1:{port};transport=tcp"), timeout=1.0))
        return result.status, result.reason, client.stats.malformed


async def test_reply_in_one_byte_pieces_after_keepalives() -> None:
    async def trickle(reply: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\r\n\r\n")
        for i in range(len(reply)):
            writer.write(reply[i:i + 1])
            if i % 50 == 0:
                await writer.drain()
                await asyncio.sleep(0)
        await writer.drain()

    server, port = await _serve(trickle)
    async with server:
        status, _, malformed = await _probe(port)
    assert status is ProbeStatus.OK and malformed == 0


async def test_reply_without_content_length_on_a_stream_is_malformed() -> None:
    async def strip_length(reply: bytes, writer: asyncio.StreamWriter) -> None:
        parts = split_head(reply)
        assert parts is not None
        head = b"\r\n".join(line for line in parts[0].split(b"\r\n") if not line.startswith(b"Content-Length"))
        writer.write(head + b"\r\n\r\n")
        await writer.drain()

    server, port = await _serve(strip_length)
    async with server:
        status, reason, malformed = await _probe(port)
    assert status is ProbeStatus.ERROR
    assert reason == "peer sent a message without a valid Content-Length"
    assert malformed == 1
