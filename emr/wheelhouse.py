"""The wheelhouse: a folder with a wheel of every dependency of mysql2dynamo at its pinned version
(`package.pinned_requirements`, written next to them as pins.txt) and of pip, for the Python and
platform of the EMR nodes (`Target`, emr/cluster.yaml `python:`), so a node installs with
`pip install --no-index --find-links` and never reaches PyPI. The project's own wheel is not in it
(`package.build_wheel` makes that from the running code at each submit).

Downloaded once per (pins, target) into `<data home>/wheelhouse/<key>` (ground.paths.data_home): a
second submit or bundle reuses it without any download. The folder appears whole or not at all (it
is downloaded beside and renamed into place).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mysql2dynamo.emr.package import pins_text
from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.paths import data_home

PINS_NAME = "pins.txt"  # the constraints the wheels are pinned by, in the wheelhouse and next to the wheel on S3
OLDEST_GLIBC_MINOR = 5  # manylinux1's glibc 2.5: the oldest manylinux tag
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


class WheelhouseError(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    """The Python the wheels are for: its version ("3.11"), its platform as a PEP 600 tag
    (`manylinux_2_34_x86_64`: glibc 2.34 on x86_64), and the interpreter's path on the nodes."""

    python_version: str
    platform: str
    interpreter: str

    @classmethod
    def from_settings(cls, emr: dict) -> Target:
        """From the `python:` section of the EMR settings (emr/cluster.yaml, the config's `emr:`)."""
        py = emr.get("python") or {}
        version, platform = str(py.get("version") or ""), str(py.get("platform") or "")
        if not re.fullmatch(r"3\.\d+", version):
            raise ValueError(f"emr.python.version must be a Python version like 3.11, got {version!r}")
        if not re.fullmatch(r"manylinux_2_\d+_\w+", platform):
            raise ValueError(f"emr.python.platform must be a tag like manylinux_2_34_x86_64, got {platform!r}")
        return cls(version, platform, str(py.get("interpreter") or f"/usr/bin/python{version}"))

    def pip_options(self) -> list[str]:
        """pip's options that pick this target's wheels (download, install --target) instead of this machine's."""
        platforms = [arg for tag in self.platform_tags() for arg in ("--platform", tag)]
        return ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python_version, *platforms]

    def platform_tags(self) -> list[str]:
        """The tags a node of this platform installs: manylinux_2_Y for every Y down to 2.5 (PEP 600: a
        newer glibc runs wheels built for an older one) and their legacy names (manylinux2014...)."""
        glibc, arch = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", self.platform).groups()
        tags = [f"manylinux_2_{y}_{arch}" for y in range(int(glibc), OLDEST_GLIBC_MINOR - 1, -1)]
        return tags + [f"{name}_{arch}" for y, name in LEGACY_MANYLINUX.items() if y <= int(glibc)]


def installer_pin() -> str:
    """pip, at the version here: the bootstrap runs it from its wheel, so a node needs no pip of its own."""
    return f"pip=={importlib.metadata.version('pip')}"


def wheelhouse_key(pins: str, target: Target) -> str:
    text = f"{pins}{installer_pin()}\n{target.python_version} {target.platform}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pip_environment() -> dict[str, str]:
    """This process's environment without pip's own find-links/no-index settings, so a download takes
    exactly the index and links given on its command line."""
    return {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_NO_INDEX")}


def _download(pins: Path, target: Target, dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *target.pip_options(),
           "--dest", str(dest), "--requirement", str(pins), installer_pin()]
    done = subprocess.run(cmd, capture_output=True, text=True, env=pip_environment())
    if done.returncode != 0:
        raise WheelhouseError(f"pip download of the pinned wheels for Python {target.python_version} on "
                              f"{target.platform} failed (a pin without a wheel for it?): "
                              f"{done.stderr.strip()[-2000:]}")


def made_once(path: Path, make: Callable[[Path], None], what: str) -> bool:
    """Make `path` (a file or folder under the data home's cache) unless it is there: `make(part)` writes
    it at `part` beside it, renamed into place after, so it is there whole or not at all. True when made."""
    if path.exists():
        say(f"{what}: {path} (cached)")
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".making-") as tmp:
        part = Path(tmp) / path.name
        make(part)
        try:
            part.rename(path)
        except OSError:  # another process put the same in place first
            if not path.exists():
                raise
    return True


def wheelhouse(target: Target, pins: str | None = None) -> Path:
    """The wheelhouse folder of `target`: from the cache, else downloaded (pip download) into it."""
    pins = pins_text() if pins is None else pins
    folder = data_home() / "wheelhouse" / wheelhouse_key(pins, target)

    def download(part: Path) -> None:
        part.mkdir()
        (part / PINS_NAME).write_text(pins)
        _download(part / PINS_NAME, target, part)

    if made_once(folder, download, "wheelhouse"):
        say(f"wheelhouse: {folder} ({len(wheels(folder))} wheels for Python {target.python_version} "
            f"on {target.platform})")
    return folder


def wheels(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.whl"))


def copy_wheels(folder: Path, out: Path) -> list[Path]:
    """Copy the wheelhouse's wheels into `out`; returns the copies."""
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(f, out / f.name)) for f in wheels(folder)]
