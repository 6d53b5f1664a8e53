"""Media checks count only our own audio coming back: a random payload out, the same payload back.

Real peers: SIPp with `-rtp_echo` (a reflector) and SIPp playing its own audio from a capture
(`play_pcap_audio`: RTP at full rate that is not ours). The metrics on matching packets are
checked against an in-process peer that echoes some packets and adds its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Sipp
from tests.rtp_pcap import contact_center_folder, need_raw_sockets
from trunkguard.probing.quality import MediaLimits, judge
from trunkguard.probing.rtp import RtpSession
from trunkguard.probing.sip_invite import CallPlan, CallResult, place_call
from trunkguard.sip.client import SipClient
from trunkguard.sip.uri import parse_uri

ONE_WAY = re.compile(r"^RTP flows, but it is not our audio coming back \(0 of (\d+) packets match\): one-way audio$")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True, check=False,
                          timeout=60)


def _call(uri: str, **plan: object) -> CallResult:
    async def run() -> CallResult:
        async with SipClient() as client:
            return await place_call(client, CallPlan(parse_uri(uri), number="15550001", **plan))  # type: ignore[arg-type]
    return asyncio.run(run())


def test_a_peer_playing_its_own_audio_is_one_way_not_an_echo(sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    need_raw_sockets()
    sipp = sipp_uas("udp", scenario=str(contact_center_folder(tmp_path / "cc")),
                    extra=["-mi", "127.0.0.1", "-m", "2"])
    result = _call(sipp.uri, duration=1.0, rtp_timeout=2.0)
    assert (result.status, result.code) == ("no_media", 200)
    assert result.reason is not None
    match = ONE_WAY.match(result.reason)
    assert match, result.reason
    rtp = result.rtp
    assert rtp is not None
    # it sent at full rate (50 packets a second for the 2 s we listened), none of them ours
    assert rtp.sent == 50 and rtp.received == 0 and rtp.loss_pct == 100.0 and rtp.rtt_ms is None
    assert rtp.came_back == int(match.group(1)) >= 50
    ok, detail = judge(result, MediaLimits())
    assert not ok and "one-way audio" in detail
    # the command says it too, and exits 1
    cli = _cli("media", sipp.uri, "--number", "15550001", "--duration", "1s", "--rtp-timeout", "2s", "--json")
    assert cli.returncode == 1, cli.stderr
    data = json.loads(cli.stdout)
    assert (data["status"], data["rtp"]["received"]) == ("no_media", 0) and data["rtp"]["arrived"] >= 50
    assert sipp.process.wait(10) == 0  # both calls went INVITE, ACK, BYE as the scenario expects


def test_an_echo_brings_back_exactly_our_packets(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("udp", extra=["-rtp_echo", "-mi", "127.0.0.1", "-m", "1"])
    result = _call(sipp.uri, duration=1.0)
    assert result.status == "ok", result.reason
    rtp = result.rtp
    assert rtp is not None and rtp.sent == 50 and rtp.received >= 45 and rtp.came_back == rtp.received
    assert rtp.rtt_ms is not None and rtp.rtt_ms < 100
    assert sipp.process.wait(10) == 0


class _Peer(asyncio.DatagramProtocol):
    """Echoes every other packet with a new header (as an SBC would), and sends its own audio for each."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.count += 1
        restamped = struct.pack("!BBHII", 0x80, 0, 9000 + self.count, 777 * self.count, 0xCAFE) + data[12:]
        if self.count % 2:
            self.transport.sendto(restamped, addr)
        self.transport.sendto(restamped[:12] + os.urandom(160), addr)  # its own audio, at the same rate


def test_loss_and_round_trip_are_counted_on_our_packets_only() -> None:
    async def run() -> tuple[int, int, float, float | None, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Peer, local_addr=("127.0.0.1", 0))
        session = await RtpSession.open("127.0.0.1")
        try:
            report = await session.check(transport.get_extra_info("sockname"), payload_type=0, duration=1.0,
                                         rtp_timeout=2.0)
        finally:
            session.close()
            transport.close()
        return report.sent, report.received, report.loss_pct, report.rtt_ms, report.came_back

    sent, received, loss, rtt, came_back = asyncio.run(run())
    assert sent == 50
    assert received == 25 and loss == 50.0  # the restamped echoes count: the payload is ours
    assert came_back == 75  # 25 echoes and 50 packets of the peer's own audio
    assert rtt is not None and rtt < 50
