"""A trunk's TLS files, re-read when they change on disk and on SIGHUP, without a restart.

Certificates rotate (the guide's edge case 3): a CA bundle is replaced when the carrier's SBC is
re-issued by a new CA, our client certificate is renewed before it expires. `TlsContexts` keeps one
client context per set of files (`TlsFiles`: the frozen values the config gives, pins included)
and knows each file by (mtime_ns, size, inode): when any of them changes, or after `reload()` (the
daemon's SIGHUP), the next use builds a new context from the files as they are now. Every context
it gives out leads to the newest (`TrunkTlsContext.successor`), so the OPTIONS probes, the test
calls and the sweep, which keep the context they were built with, handshake with the new files at
their next connection; a connection made with the old files is retired (sip/transport.py).

Files that changed but do not load (a half-copied bundle, a key that is not the certificate's) keep
the previous context, with a warning, until they change again; the very first load raises TlsError.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from trunkguard.errors import TlsError
from trunkguard.logs import fields
from trunkguard.sip.transport import PinMode, TrunkTlsContext, client_tls_context

log = logging.getLogger("trunkguard.tls")
Signature = tuple[tuple[int, int, int] | None, ...]  # per file: (mtime_ns, size, inode), None: unreadable


@dataclass(frozen=True)
class TlsFiles:
    """A trunk's TLS settings as values: its files, verification and SPKI pins (SHA-256, lower-case hex)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    verify: bool = True
    pins: tuple[str, ...] = ()
    pin_mode: PinMode = "report"

    def paths(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.ca_file, self.cert_file, self.key_file) if p is not None)

    def build(self) -> TrunkTlsContext:
        """A context from the files as they are now (raises TlsError when they do not load)."""
        return client_tls_context(ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file,
                                  verify=self.verify, pins=self.pins, pin_mode=self.pin_mode)


def signature(files: TlsFiles) -> Signature:
    """How the files are on disk now: a change of any of them changes this."""
    out: list[tuple[int, int, int] | None] = []
    for path in files.paths():
        try:
            st = path.stat()
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


@dataclass
class _Loaded:
    context: TrunkTlsContext
    signature: Signature
    generation: int
    refused: Signature | None = None  # files seen changed that did not load: not tried again until they change


class TlsContexts:
    """The newest client context for each set of TLS files (safe to use from any thread)."""

    def __init__(self) -> None:
        self._loaded: dict[TlsFiles, _Loaded] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def context(self, files: TlsFiles) -> TrunkTlsContext:
        """The context for `files` as they are on disk now: built at first use, built again when one of
        them has changed or after `reload()`. Raises TlsError only when they have never loaded."""
        now = signature(files)
        with self._lock:
            loaded = self._loaded.get(files)
            if loaded is not None and loaded.generation == self._generation and now in (loaded.signature,
                                                                                         loaded.refused):
                return loaded.context
            try:
                context = files.build()
            except TlsError as exc:
                if loaded is None:
                    raise
                loaded.refused, loaded.generation = now, self._generation
                log.warning("the TLS files %s changed but do not load (%s): the previous ones stay in use until "
                            "they change again", _names(files), exc,
                            extra=fields("tls_files_refused", files=_names(files), error=str(exc)))
                return loaded.context
            context.successor = functools.partial(self.context, files)
            self._loaded[files] = _Loaded(context, now, self._generation)
        if loaded is not None:
            log.info("the TLS files %s were re-read: the next connection uses them", _names(files),
                     extra=fields("tls_files_reloaded", files=_names(files)))
        return context

    def reload(self) -> None:
        """Read every set of files again at its next use, changed or not (SIGHUP)."""
        with self._lock:
            self._generation += 1


def _names(files: TlsFiles) -> str:
    return ", ".join(str(p) for p in files.paths()) or "(system CAs)"


CONTEXTS = TlsContexts()  # the process's: every trunk context comes from here


def reload() -> None:
    """SIGHUP: every trunk's TLS files are read again at its next connection."""
    CONTEXTS.reload()
    log.info("SIGHUP received: the trunks' TLS files are read again at their next connection",
             extra=fields("sighup_received"))
