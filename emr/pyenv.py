"""The Python environment archive an EMR Serverless job runs in (`spark.archives=<archive>#environment`,
PYSPARK_PYTHON=./environment/bin/python): a virtual environment of mysql2dynamo and its pinned
dependencies, installed from the wheelhouse alone (no index) for the target's Python and platform, so
it can be built on any machine for Amazon Linux.

Layout at the archive's root, what `python -m venv` makes: `pyvenv.cfg` (home = the folder of the
target's interpreter), `bin/python` -> the target's interpreter (an absolute symlink: the interpreter of
the Serverless image, /usr/bin/python3.11 by default), `bin/python3`, `bin/python3.X` -> python, and
`lib/python3.X/site-packages`. Python finds the environment from the `pyvenv.cfg` next to `bin/` of the
path it was started by, so the unpacked folder works wherever it lands. Entries are sorted with fixed
owner, permissions and times: the same inputs give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from mysql2dynamo.emr.wheelhouse import PINS_NAME, Target, WheelhouseError, made_once, pip_environment
from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.paths import data_home

ARCHIVE_NAME = "pyenv.tar.gz"
KEEP = 3  # archives the cache keeps, the newest (each change of the code makes another)


def archive_key(wheel: Path, wheelhouse: Path, target: Target) -> str:
    text = f"{hashlib.sha256(wheel.read_bytes()).hexdigest()} {wheelhouse.name} {target}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _install(wheel: Path, wheelhouse: Path, target: Target, site: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheelhouse),
           *target.pip_options(), "--no-compile", "--target", str(site), "--constraint", str(wheelhouse / PINS_NAME),
           str(wheel)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=pip_environment())
    if done.returncode != 0:
        raise WheelhouseError(f"installing {wheel.name} from the wheelhouse {wheelhouse} failed: "
                              f"{done.stderr.strip()[-2000:]}")


def _entry(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, mode: int = 0o644, link: str = "") \
        -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.linkname, info.mtime = kind, size, mode, link, 0
    return info


def _tar(site: Path, target: Target, out: Path) -> None:
    py = f"python{target.python_version}"
    home = str(Path(target.interpreter).parent)
    cfg = f"home = {home}\ninclude-system-site-packages = false\nversion = {target.python_version}\n".encode()
    with out.open("wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=1, mtime=0, filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_entry("pyvenv.cfg", size=len(cfg)), io.BytesIO(cfg))
        tar.addfile(_entry("bin", tarfile.DIRTYPE, mode=0o755))
        tar.addfile(_entry("bin/python", tarfile.SYMTYPE, mode=0o777, link=target.interpreter))
        for alias in ("python3", py):
            tar.addfile(_entry(f"bin/{alias}", tarfile.SYMTYPE, mode=0o777, link="python"))
        for path in sorted(site.rglob("*")):
            name = f"lib/{py}/site-packages/{path.relative_to(site).as_posix()}"
            if path.is_dir():
                tar.addfile(_entry(name, tarfile.DIRTYPE, mode=0o755))
            else:
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                with path.open("rb") as f:
                    tar.addfile(_entry(name, size=path.stat().st_size, mode=mode), f)


def env_archive(wheel: Path, wheelhouse: Path, target: Target) -> Path:
    """The environment archive of `wheel` with the wheelhouse's pinned dependencies for `target`: from the
    cache (`<data home>/pyenv/<key>.tar.gz`, keyed by the wheel's bytes, the wheelhouse and the target),
    else built into it (and the cache trimmed to the KEEP newest)."""
    cache = data_home() / "pyenv"
    out = cache / f"{archive_key(wheel, wheelhouse, target)}.tar.gz"

    def build(part: Path) -> None:
        with tempfile.TemporaryDirectory(dir=cache, prefix=".site-") as site:
            _install(wheel, wheelhouse, target, Path(site))
            _tar(Path(site), target, part)

    if made_once(out, build, "python environment"):
        for old in sorted(cache.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP:]:
            old.unlink(missing_ok=True)
        say(f"python environment: {out} ({out.stat().st_size // 2**20} MiB, Python {target.python_version} at "
            f"{target.interpreter})")
    return out
