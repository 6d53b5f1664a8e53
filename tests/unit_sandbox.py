"""Run a command under what deploy/trunkguard.service asks of the kernel, without systemd: its
SystemCallFilter= (groups expanded by `systemd-analyze syscall-filter`), RestrictAddressFamilies=
(socket(2) for the listed families only) and MemoryDenyWriteExecute= (PR_SET_MDWE), through
libseccomp (which systemd itself links) by ctypes. For tests: `python unit_sandbox.py UNIT CMD...`.
Exit 3 when this kernel or machine cannot build the sandbox."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path


def _expand(group: str, seen: set[str]) -> set[str]:
    out: set[str] = set()
    listing = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True,
                             check=True, timeout=30).stdout
    for line in listing.splitlines()[1:]:
        item = line.strip()
        if item.startswith("@") and item not in seen:
            seen.add(item)
            out |= _expand(item, seen)
        elif item and not item.startswith(("#", "@")):
            out.add(item)
    return out


def _directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            found.setdefault(key.strip(), []).append(value.strip())
    return found


class _Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def main() -> None:
    unit, command = Path(sys.argv[1]), sys.argv[2:]
    d = _directives(unit)
    allowed: set[str] = set()
    for value in d.get("SystemCallFilter", []):
        deny = value.startswith("~")
        names: set[str] = set()
        for item in value.lstrip("~").split():
            names |= _expand(item, set()) if item.startswith("@") else {item}
        allowed = allowed - names if deny else allowed | names
    families = [getattr(socket, name) for value in d.get("RestrictAddressFamilies", []) for name in value.split()]
    path = ctypes.util.find_library("seccomp")
    if path is None:
        sys.exit(3)
    lib = ctypes.CDLL(path, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    ctx = lib.seccomp_init(0x00050000 | errno.EPERM)  # SCMP_ACT_ERRNO(EPERM): SystemCallErrorNumber=EPERM
    allow = 0x7FFF0000
    for name in sorted(allowed - {"socket"}):
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number >= 0 and lib.seccomp_rule_add(ctx, allow, number, 0) != 0:
            sys.exit(f"cannot allow {name}")
    number = lib.seccomp_syscall_resolve_name(b"socket")
    add_one = lib.seccomp_rule_add
    add_one.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, _Cmp]
    for family in families:  # SCMP_CMP_EQ on socket's first argument
        if add_one(ctx, allow, number, 1, _Cmp(0, 4, family, 0)) != 0:
            sys.exit("cannot restrict socket families")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS (NoNewPrivileges=yes)
        sys.exit(3)
    if d.get("MemoryDenyWriteExecute") == ["yes"] and libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE (Linux 6.3)
        print("this kernel has no PR_SET_MDWE", file=sys.stderr)
        sys.exit(3)
    if lib.seccomp_load(ctypes.c_void_p(ctx)) != 0:
        sys.exit(3)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
