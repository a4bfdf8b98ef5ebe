"""Where the project keeps its own files: the local stack's data, the JVM jars, node_modules.

Everything lives under the project checkout (or `M2D_HOME` for the data), so a throw-away
stack never touches the system's own MySQL or anything in the user's home.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_home() -> Path:
    """Folder for the local stack's data, logs and pid files (`M2D_HOME`, default `.local/`)."""
    return Path(os.environ.get("M2D_HOME") or PROJECT_ROOT / ".local").resolve()


def jars_dir() -> Path:
    """Folder that `mvn -f emr/pom.xml package` fills with the connector, S3A and JDBC jars."""
    return Path(os.environ.get("M2D_JARS") or PROJECT_ROOT / "jars").resolve()


def node_modules() -> Path:
    """The npm install of dynalite and kinesalite pinned by package.json / package-lock.json."""
    return PROJECT_ROOT / "node_modules"
