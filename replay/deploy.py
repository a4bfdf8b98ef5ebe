"""The replay Lambda's deployment package (`mysql2dynamo deploy` uploads it; the stack runs it).

The zip holds the project code the handler imports (cdc, keymap, replay), the pure-Python modules of
the distributions named in replay/requirements.txt (PyYAML) and the mapping config; boto3 comes with
the Lambda runtime. Built twice from the same tree, it has the same bytes (see `zip_bytes`), so its
content address names it in the artifacts bucket. The function, its role and its event source are
in the stack (mysql2dynamo/deploy/template.py).
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from mysql2dynamo.ground.files import zip_bytes
from mysql2dynamo.ground.paths import package_files

PACKAGES = ("cdc", "keymap", "replay")
HANDLER = "mysql2dynamo.replay.handler.handler"
CONFIG_IN_ZIP = "config/mysql2dynamo.yaml"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"


def vendored_files() -> list[tuple[str, Path]]:
    """(name in the zip, file) of the pure-Python modules of each distribution in requirements.txt,
    as installed here (the C extensions are built for this machine, not for the Lambda's)."""
    out = []
    for line in REQUIREMENTS.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        dist = importlib.metadata.distribution(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        tops = {t for t in (dist.read_text("top_level.txt") or "").split() if not t.startswith("_")}
        out += [(f.as_posix(), Path(dist.locate_file(f))) for f in dist.files or ()
                if f.suffix == ".py" and f.parts[0] in tops]
    return out


def build_zip(config_path: Path) -> bytes:
    """The deployment package: project code, the vendored requirements, the config."""
    files = [*package_files(PACKAGES), *vendored_files(), (CONFIG_IN_ZIP, Path(config_path))]
    return zip_bytes((name, path.read_bytes()) for name, path in sorted(files))
