"""kamailio as a real TLS SIP peer for the tests (Debian's SIPp has no TLS).

`KamailioTls.start()` writes a config into a fresh temporary folder and runs kamailio in the
foreground there, as libs.md 3.3 does:

    kamailio -f kamailio.cfg -DD -E -m 64 -M 8 -P <dir>/kamailio.pid -Y <dir>

It listens on tls:127.0.0.1:<port> only, with the given server certificate; with `client_ca`, a
client must present a certificate that CA signed (mutual TLS). It answers statelessly: an INVITE to a
DID in `reject` gets that code, any other INVITE a 200 with an SDP body; ACK is absorbed and every
other request (BYE, CANCEL, OPTIONS) gets 200. `stop()` ends its process group and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from trunkguard.lab.certs import CertFiles

MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
SDP = ("v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nc=IN IP4 127.0.0.1\\r\\nt=0 0\\r\\n"
       "m=audio 9 RTP/AVP 0\\r\\na=rtpmap:0 PCMU/8000\\r\\n")


def need_kamailio(why: str) -> str:
    """kamailio's path, with its TLS module present: skipped without them on a laptop, a failure under
    CI=true (make test installs kamailio and kamailio-tls-modules)."""
    import pytest

    from tests.conftest import IN_CI, need_binary

    # Debian puts it in /usr/sbin, which a non-root PATH often lacks
    binary = shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/usr/local/sbin") or \
        need_binary("kamailio", "kamailio kamailio-tls-modules", why)
    try:
        modules_dir(binary)
    except FileNotFoundError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (under CI=true, make test installs it)")
        pytest.skip(str(exc))
    return binary


def modules_dir(binary: str) -> Path:
    """Where kamailio-tls-modules put tls.so (Debian's multiarch folder, or next to the binary)."""
    for folder in (MODULES, Path(binary).resolve().parent.parent / "lib" / "kamailio" / "modules",
                   *Path("/usr/lib").glob("*/kamailio/modules")):
        if (folder / "tls.so").is_file():
            return folder
    raise FileNotFoundError("kamailio's tls.so was not found: apt-get install kamailio-tls-modules")


def config_text(port: int, server: CertFiles, modules: Path, *, client_ca: CertFiles | None,
                reject: dict[str, tuple[int, str]]) -> str:
    rejects = "".join(f'        if ($rU == "{did}") {{ sl_send_reply("{code}", "{reason}"); exit; }}\n'
                      for did, (code, reason) in reject.items())
    mutual = (f'modparam("tls", "ca_list", "{client_ca.cert}")\n'
              'modparam("tls", "verify_certificate", 1)\nmodparam("tls", "require_certificate", 1)\n'
              if client_ca is not None else "")
    return f"""#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
enable_tls=yes
listen=tls:127.0.0.1:{port}
mpath="{modules}/"
loadmodule "tls.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "pv.so"
modparam("tls", "tls_method", "TLSv1.2+")
modparam("tls", "certificate", "{server.cert}")
modparam("tls", "private_key", "{server.key}")
{mutual}
request_route {{
    if (is_method("ACK")) {{ exit; }}
    if (is_method("INVITE")) {{
{rejects}        set_reply_body("{SDP}", "application/sdp");
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("200", "OK");
}}
"""


@dataclass
class KamailioTls:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    log: Path
    stopped: bool = field(default=False)

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.port};transport=tls"

    @classmethod
    def start(cls, binary: str, port: int, server: CertFiles, *, client_ca: CertFiles | None = None,
              client: CertFiles | None = None, reject: dict[str, tuple[int, str]] | None = None) -> KamailioTls:
        """Run kamailio; return once it completes a TLS handshake (with `client`'s certificate, if given)."""
        folder = Path(tempfile.mkdtemp(prefix="tg-kamailio-"))
        try:
            config = folder / "kamailio.cfg"
            config.write_text(config_text(port, server, modules_dir(binary), client_ca=client_ca,
                                          reject=reject or {}))
            log = folder / "kamailio.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [binary, "-f", str(config), "-DD", "-E", "-m", "64", "-M", "8",
                     "-P", str(folder / "kamailio.pid"), "-Y", str(folder)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=folder,
                    start_new_session=True)  # its own process group: stop() ends its children too
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        peer = cls(process, port, folder, log)
        try:
            peer._wait_ready(client)
        except BaseException:
            peer.stop()
            raise
        return peer

    def _wait_ready(self, client: CertFiles | None) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if client is not None:
            ctx.load_cert_chain(str(client.cert), str(client.key))
        deadline = time.monotonic() + 10
        error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kamailio exited with {self.process.returncode}: {self.output()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw, \
                        ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                    return
            except (OSError, ssl.SSLError) as exc:
                error = exc
            time.sleep(0.1)
        raise RuntimeError(f"kamailio did not accept TLS on port {self.port} ({error}): {self.output()[-2000:]}")

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """End kamailio and every process it forked (its own group), then remove its folder."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(5)
            with contextlib.suppress(ProcessLookupError):  # children left behind after the main one ended
                os.killpg(self.process.pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
