"""Build hook: regular installs compile the SIP hot path with mypyc; editable installs do not.

`sip/message.py`, `sip/client.py` and `loadgen.py` carry every OPTIONS transaction; mypyc (part of
mypy, the type checker this project already uses) turns their annotated Python into a C extension,
about 1.5x faster here. Editable (development) installs stay pure Python, so a compiled module can
never shadow a source file being edited; so does any install with TRUNKGUARD_PURE_PYTHON=1, and
any platform where the compilation is not possible. Behaviour is the same either way: the test
suite runs against both.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

HOT_PATH = ["src/trunkguard/sip/message.py", "src/trunkguard/sip/client.py", "src/trunkguard/loadgen.py"]


def compiled_modules() -> list[object]:
    if os.environ.get("TRUNKGUARD_PURE_PYTHON") == "1" or "editable_wheel" in sys.argv:
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    # One shared library for the three modules, named for the project (trunkguard__mypyc.*.so beside the
    # package) rather than for a hash of the module names, so an installed wheel's files are predictable.
    return list(mypycify(["--config-file", "", "--ignore-missing-imports", "--python-version", "3.11",
                          *HOT_PATH], opt_level="3", group_name="trunkguard"))


setup(ext_modules=compiled_modules())
