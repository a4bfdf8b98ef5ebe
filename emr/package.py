"""A pure-Python wheel of mysql2dynamo for EMR nodes, built without network or the `wheel` package.

The bootstrap action installs it with `pip install --no-deps` (EMR brings pyspark; the bootstrap
adds the few other requirements), so the wheel carries the project's packages and metadata only.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent
NAME, VERSION = "mysql2dynamo", "0.1.0"
PACKAGES = ["mysql2dynamo*", "keymap*", "cdc*", "jobs*", "replay*", "emr*"]
DATA_SUFFIXES = (".py", ".js", ".yaml", ".yml", ".sh")


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel_name() -> str:
    return f"{NAME}-{VERSION}-py3-none-any.whl"


def build_wheel(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / wheel_name()
    dist_info = f"{NAME}-{VERSION}.dist-info"
    files: dict[str, bytes] = {}
    for pkg in find_packages(str(ROOT), include=PACKAGES):
        folder = ROOT / pkg.replace(".", "/")
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix in DATA_SUFFIXES:
                files[f.relative_to(ROOT).as_posix()] = f.read_bytes()
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
        "Summary: Move live MySQL tables into DynamoDB with a new key design\nRequires-Python: >=3.10\n").encode()
    files[f"{dist_info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: mysql2dynamo.emr.package\n"
                                   b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    files[f"{dist_info}/entry_points.txt"] = b"[console_scripts]\nmysql2dynamo = mysql2dynamo.cli:main\n"
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return path
