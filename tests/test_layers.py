"""The layers run one way down, and no module imports itself through a circle.

    mysql2dynamo.ground  <-  keymap, emr  <-  cdc  <-  jobs | replay  <-  the shell (mysql2dynamo.*)

A module may import its own layer group and any group below it; `jobs` and `replay` are peers that
never import each other. Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mysql2dynamo import PHASE_FOLDERS

ROOT = Path(__file__).resolve().parent.parent
RANKS = {"ground": 0, "keymap": 1, "emr": 1, "cdc": 2, "jobs": 3, "replay": 3, "shell": 4}


def group(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (parts[1] in PHASE_FOLDERS or parts[1] == "ground"):
        return parts[1]
    return "shell"


def project_modules(root: Path) -> dict[str, Path]:
    """Every project module by its installed name (`keymap/spec.py` is `mysql2dynamo.keymap.spec`)."""
    modules: dict[str, Path] = {}
    for top, prefix in [("mysql2dynamo", "mysql2dynamo")] + [(f, f"mysql2dynamo.{f}") for f in PHASE_FOLDERS]:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root / top).with_suffix("").parts
            name = ".".join((prefix, *rel))
            modules[name.removesuffix(".__init__")] = path
    return modules


def imports(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from pkg import module` depends on that module; `from module import name` on the module
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `from x import function` names the module x
                name = name.rpartition(".")[0]
            if name and name != module and name != "mysql2dynamo":
                found.add(name)
    return found


def violations(root: Path) -> tuple[list[str], list[list[str]]]:
    known = project_modules(root)
    graph = {m: imports(p, m, known) for m, p in known.items()}
    upward = []
    for m, targets in graph.items():
        for t in sorted(targets):
            gm, gt = group(m), group(t)
            if gm != gt and RANKS[gt] >= RANKS[gm]:
                upward.append(f"{m} ({gm}) imports {t} ({gt})")
    return sorted(upward), cycles(graph)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_layers_run_one_way_down_and_nothing_imports_itself_in_a_circle():
    upward, circles = violations(ROOT)
    assert upward == [], "imports from a lower layer up:\n" + "\n".join(upward)
    assert circles == [], f"import circles: {circles}"


def test_the_check_catches_a_lower_folder_importing_the_shell(tmp_path):
    for folder in ("mysql2dynamo", "mysql2dynamo/ground", *PHASE_FOLDERS):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "mysql2dynamo" / "cli.py").write_text("from mysql2dynamo.keymap import spec\n")
    (tmp_path / "keymap" / "spec.py").write_text("def load():\n    from mysql2dynamo.cli import main\n")
    (tmp_path / "jobs" / "scan.py").write_text("from mysql2dynamo.replay import apply\n")
    (tmp_path / "replay" / "apply.py").write_text("from ..ground import files\n")
    (tmp_path / "mysql2dynamo" / "ground" / "files.py").write_text("")
    upward, circles = violations(tmp_path)
    assert upward == ["mysql2dynamo.jobs.scan (jobs) imports mysql2dynamo.replay.apply (replay)",
                      "mysql2dynamo.keymap.spec (keymap) imports mysql2dynamo.cli (shell)"]
    assert circles == [["mysql2dynamo.cli", "mysql2dynamo.keymap.spec"]]
