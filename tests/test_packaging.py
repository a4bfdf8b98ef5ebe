"""The distribution as a user gets it: the wheel of the standard build, installed into a clean venv with
its base dependencies only (no pyspark), run from a folder that holds its own `jobs/` package.

One build and one venv serve the whole module (the build takes ~25 s: an isolated build env).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from mysql2dynamo import __version__
from mysql2dynamo.emr.package import build_wheel as repack_wheel

ROOT = Path(__file__).resolve().parent.parent
EPOCH = "315532800"  # 1980-01-01, the zip format's first day: any fixed value makes the wheel reproducible
DATA_FILES = ("mysql2dynamo/emr/cluster.yaml", "mysql2dynamo/emr/bootstrap.sh", "mysql2dynamo/emr/pom.xml",
              "mysql2dynamo/replay/requirements.txt",
              "mysql2dynamo/keymap/examples/shop.yaml", "mysql2dynamo/sample/mapping.yaml",
              "mysql2dynamo/local/node_server.js")


def _run(cmd: list[str], cwd: Path | None = None, env: dict | None = None, check: bool = True):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check:
        assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel of `python -m build` (the wheel is built from the sdist, so from a clean tree)."""
    out = tmp_path_factory.mktemp("dist")
    egg_info = ROOT / "mysql2dynamo.egg-info"  # the sdist step leaves it in the tree
    had_egg_info = egg_info.exists()
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
         env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    if not had_egg_info:
        shutil.rmtree(egg_info, ignore_errors=True)
    return out


@pytest.fixture(scope="module")
def wheel(dist) -> Path:
    return next(dist.glob("*.whl"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A clean venv with the wheel and its base dependencies from PyPI."""
    path = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(path)])
    _run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    return path


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working directory with a `jobs/` package of its own that must never be imported."""
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "__init__.py").write_text("raise RuntimeError('the user\\'s jobs/ was imported')\n")
    return tmp_path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "M2D_HOME", "M2D_JARS", "VIRTUAL_ENV")}
    return {**env, "M2D_JARS": str(tmp_path / "no-jars"), **extra}


def test_the_wheel_holds_the_data_files_and_no_top_level_phase_modules(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert wheel.name == f"mysql2dynamo-{__version__}-py3-none-any.whl"
    assert set(DATA_FILES) <= set(names)
    assert {n.split("/")[0] for n in names} == {"mysql2dynamo", f"mysql2dynamo-{__version__}.dist-info"}
    assert not [n for n in names if n.endswith((".jar", ".pyc"))]


def test_the_wheel_is_reproducible(dist, wheel, tmp_path):
    """Built again by another front end (pip) from the same sdist: the same bytes."""
    again = tmp_path / "again"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(again), str(next(dist.glob("*.tar.gz")))],
         env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    assert _sha256(next(again.glob("*.whl"))) == _sha256(wheel)


def test_the_emr_wheel_repacks_what_the_standard_build_holds(wheel, tmp_path):
    first, second = repack_wheel(tmp_path / "a"), repack_wheel(tmp_path / "b")
    assert first.name == wheel.name and _sha256(first) == _sha256(second)
    standard, repacked = zipfile.ZipFile(wheel), zipfile.ZipFile(first)
    def package(z: zipfile.ZipFile) -> set[str]:
        return {n for n in z.namelist() if n.startswith("mysql2dynamo/")}

    assert package(repacked) == package(standard)
    meta = f"mysql2dynamo-{__version__}.dist-info/METADATA"
    assert repacked.read(meta) == standard.read(meta)


def test_the_base_install_has_no_spark_pandas_or_moto(venv):
    py = str(venv / "bin" / "python")
    for module in ("pyspark", "pandas", "moto"):
        assert _run([py, "-c", f"import {module}"], check=False).returncode != 0, f"{module} was installed"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    assert size < 400e6, f"the base install is {size / 1e6:.0f} MB"


def test_the_installed_package_runs_from_a_folder_with_its_own_jobs(venv, elsewhere, tmp_path):
    py = str(venv / "bin" / "python")
    env = _env(tmp_path)
    assert "the user's jobs/ was imported" in _run([py, "-c", "import jobs"], elsewhere, env, check=False).stderr
    code = ("import mysql2dynamo.jobs.bulk_load, mysql2dynamo.replay.handler\n"
            "from mysql2dynamo.ground.paths import checkout, data_home\n"
            "print(mysql2dynamo.jobs.__file__, checkout(), data_home())")
    where, root, home = _run([py, "-c", code], elsewhere, env).stdout.split()
    assert where.startswith(str(venv)) and root == "None" and home == str(elsewhere / ".mysql2dynamo")
    cli = str(venv / "bin" / "mysql2dynamo")
    assert "keymap" in _run([cli, "--help"], elsewhere, env).stdout
    assert _run([cli, "--version"], elsewhere, env).stdout.strip().endswith(__version__)


def _sample_mapping(venv: Path) -> Path:
    """The sample mapping as the wheel installed it."""
    py = str(venv / "bin" / "python")
    return Path(_run([py, "-c", "import mysql2dynamo.sample as s, pathlib; "
                                "print(pathlib.Path(s.__file__).with_name('mapping.yaml'))"]).stdout.strip())


def test_keymap_check_of_the_packaged_sample_mapping(venv, elsewhere, tmp_path, sample_db, mysql_url):
    config = tmp_path / "mapping.yaml"
    config.write_text(_sample_mapping(venv).read_text().replace("\n  shop.", f"\n  {sample_db}."))
    out = _run([str(venv / "bin" / "mysql2dynamo"), "keymap", "check", "--config", str(config)], elsewhere,
               _env(tmp_path, M2D_MYSQL_URL=mysql_url))
    assert "0 error(s)" in out.stdout + out.stderr


def test_emr_submit_dry_run_and_the_missing_jar(venv, elsewhere, tmp_path):
    doc = yaml.safe_load(_sample_mapping(venv).read_text())
    doc["load"] = {"manifest": "s3://bucket/snap", "sink": "emr-connector"}
    doc["emr"] = {"artifacts": "s3://bucket/m2d/"}
    config = tmp_path / "mysql2dynamo.yaml"
    config.write_text(yaml.safe_dump(doc))
    cli, env = str(venv / "bin" / "mysql2dynamo"), _env(tmp_path)
    out = _run([cli, "emr", "submit", "--config", str(config), "--dry-run"], elsewhere, env)
    plan = json.loads(out.stdout)
    assert "mysql2dynamo emr jars" in out.stderr  # the converter jar is not in the wheel: how to build it
    local = [Path(p) for p in plan["uploads"] if p not in ("<wheel>", "<pins>", "<wheelhouse>")]
    assert [p for p in local if not p.is_file()] == [tmp_path / "no-jars" / "mysql2dynamo-converter.jar"]
    assert plan["uploads"]["<wheel>"] == f"s3://bucket/m2d/dist/mysql2dynamo-{__version__}-py3-none-any.whl"
    failed = _run([cli, "emr", "submit", "--config", str(config), "--no-follow"], elsewhere, env, check=False)
    assert failed.returncode != 0 and "mysql2dynamo emr jars" in failed.stderr


def test_the_replay_package_is_the_same_zip_twice(venv, elsewhere, tmp_path):
    config = tmp_path / "mysql2dynamo.yaml"
    config.write_text("tables:\n  app.things:\n    target: things\n    key: {PK: \"T#{id}\"}\n    rest: true\n")
    build = ("import sys; from mysql2dynamo.replay.deploy import build_zip; "
             "open(sys.argv[2], 'wb').write(build_zip(sys.argv[1]))")
    zips = []
    for n in (1, 2):
        zips.append(tmp_path / f"replay{n}.zip")
        _run([str(venv / "bin" / "python"), "-c", build, str(config), str(zips[-1])], elsewhere, _env(tmp_path))
    assert _sha256(zips[0]) == _sha256(zips[1])
    assert "yaml/__init__.py" in zipfile.ZipFile(zips[0]).namelist()
