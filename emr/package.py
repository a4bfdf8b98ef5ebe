"""The mysql2dynamo wheel that `emr submit` uploads for the EMR bootstrap action (and EMR Serverless's
--py-files), re-packed from the code that runs this command: a checkout (editable install) or a plain
`pip install`, no build tools or network needed; and its pins: every distribution it needs, at the
version installed here (`pinned_requirements`), which the bootstrap installs it with
(`pip install --constraint`), so every node runs what was tested here.

It holds what the standard build (`python -m build --wheel`) puts in the wheel: the whole
`mysql2dynamo` package with the phase folders under it, its data files, and the installed metadata
(name, version, dependencies, the console script). Entries are sorted, with fixed timestamps and
permissions, so the same code gives the same wheel bytes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
from pathlib import Path

from mysql2dynamo import __version__
from mysql2dynamo.ground.files import zip_bytes
from mysql2dynamo.ground.paths import package_files

NAME = "mysql2dynamo"
# the kinds of file setup.py's package_data ships (tests/test_packaging.py compares with the real build)
SUFFIXES = (".py", ".yaml", ".sh", ".js", ".json", ".txt", ".xml", ".java", ".interceptors")
WHEEL = b"Wheel-Version: 1.0\nGenerator: mysql2dynamo.emr.package\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def wheel_name() -> str:
    return f"{NAME}-{__version__}-py3-none-any.whl"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _metadata() -> dict[str, bytes]:
    """METADATA and entry_points.txt of the installed distribution, which must be this code's version."""
    dist = importlib.metadata.distribution(NAME)
    if dist.version != __version__:
        raise RuntimeError(f"the installed {NAME} metadata says {dist.version}, the code says {__version__}: "
                           "reinstall (`pip install -e .` in a checkout)")
    # a checkout's build leaves mysql2dynamo.egg-info (PKG-INFO) where sys.path may find it first
    metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    return {"METADATA": metadata.encode(), "entry_points.txt": (dist.read_text("entry_points.txt") or "").encode()}


def wheel_bytes() -> bytes:
    dist_info = f"{NAME}-{__version__}.dist-info"
    files = {name: path.read_bytes() for name, path in package_files(None, SUFFIXES)}
    meta = {**_metadata(), "WHEEL": WHEEL, "top_level.txt": f"{NAME}\n".encode()}
    files.update({f"{dist_info}/{name}": data for name, data in sorted(meta.items())})
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    return zip_bytes(files.items())


def build_wheel(out_dir: Path) -> Path:
    """Write the wheel into `out_dir`; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / wheel_name()
    path.write_bytes(wheel_bytes())
    return path


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    """The names of a distribution's base requirements (those of an extra left out)."""
    names = []
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        if "extra" not in marker:
            names.append(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec).group(1))
    return names


def pinned_requirements(name: str = NAME) -> list[str]:
    """`name==version` of every distribution `name` needs, directly or not (extras left out), at the
    version installed here, sorted. A requirement not installed here is one its marker excludes on this
    Python; it is left out."""
    pins: dict[str, str] = {}
    todo = _requirement_names(importlib.metadata.distribution(name))
    while todo:
        req = todo.pop()
        key = re.sub(r"[-_.]+", "-", req).lower()
        if key in pins:
            continue
        try:
            dist = importlib.metadata.distribution(req)
        except importlib.metadata.PackageNotFoundError:
            continue
        pins[key] = dist.version
        todo += _requirement_names(dist)
    return [f"{k}=={v}" for k, v in sorted(pins.items())]


def pins_text() -> str:
    """The pins as a pip constraints file."""
    return "".join(f"{pin}\n" for pin in pinned_requirements())
