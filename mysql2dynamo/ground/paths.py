"""Where mysql2dynamo keeps its own files: state (checkpoints, metrics, the local stack's data),
the JVM jars, and the npm install of the local DynamoDB/Kinesis servers.

State never goes into site-packages. In order:

| what | where |
|---|---|
| state | `M2D_HOME`; else `.local/` of a checkout; else `./.mysql2dynamo/` in the working directory |
| jars | `M2D_JARS`; else `jars/` of the checkout; else `<state>/jars` |
| node_modules | `node_modules/` of the checkout; else `<state>/node_modules` |
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def checkout() -> Path | None:
    """The repository checkout this code runs from, or None for an installed distribution."""
    root = PACKAGE_DIR.parent
    return root if (root / "setup.py").is_file() and (root / "keymap").is_dir() else None


def data_home() -> Path:
    """Folder for state: checkpoints, metrics, dead letters, the local stack's data, logs and pid files."""
    if os.environ.get("M2D_HOME"):
        return Path(os.environ["M2D_HOME"]).resolve()
    root = checkout()
    return (root / ".local" if root else Path.cwd() / ".mysql2dynamo").resolve()


CONVERTER_JAR = "mysql2dynamo-converter.jar"


def jars_dir() -> Path:
    """Folder that the Maven build of emr/pom.xml (`mysql2dynamo emr jars`) fills with the converter,
    the connector, S3A and JDBC jars."""
    if os.environ.get("M2D_JARS"):
        return Path(os.environ["M2D_JARS"]).resolve()
    root = checkout()
    return (root / "jars" if root else data_home() / "jars").resolve()


def node_modules() -> Path:
    """The npm install of dynalite and kinesalite pinned by package.json / package-lock.json."""
    root = checkout()
    return root / "node_modules" if root else data_home() / "node_modules"


def _files(folder: Path, prefix: str, suffixes: tuple[str, ...], skip: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    out = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.is_file() and path.suffix in suffixes and "__pycache__" not in rel.parts and rel.parts[0] not in skip:
            out.append((f"{prefix}/{rel.as_posix()}", path))
    return out


def package_files(subpackages: tuple[str, ...] | None = None,
                  suffixes: tuple[str, ...] = (".py",)) -> list[tuple[str, Path]]:
    """(name in an archive, file), sorted, the same from a checkout and from an install: for named
    subpackages (`"keymap"` -> `mysql2dynamo/keymap/...`) `mysql2dynamo/__init__.py`, the ground and
    those; for None the whole package (the shell and every phase folder)."""
    import importlib.util

    from mysql2dynamo import PHASE_FOLDERS

    if subpackages is None:
        out, subs = _files(PACKAGE_DIR, "mysql2dynamo", suffixes, skip=PHASE_FOLDERS), PHASE_FOLDERS
    else:
        out, subs = [("mysql2dynamo/__init__.py", PACKAGE_DIR / "__init__.py")], ("ground", *subpackages)
    for sub in subs:
        spec = importlib.util.find_spec(f"mysql2dynamo.{sub}")
        if spec is None or not spec.submodule_search_locations:
            raise LookupError(f"mysql2dynamo.{sub} is not importable")
        out += _files(Path(next(iter(spec.submodule_search_locations))), f"mysql2dynamo/{sub}", suffixes)
    return sorted(out)
