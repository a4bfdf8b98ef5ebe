"""The JVM jars: mysql2dynamo-converter.jar (built by Maven from the pom and Java sources that ship in
the package) and the runtime jars local Spark needs, all in `ground.paths.jars_dir()`.

The wheel holds no jar: `mysql2dynamo emr jars` builds them (Maven fetches the dependencies from
Maven Central); a checkout's `make setup` runs the same Maven build.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mysql2dynamo.ground.paths import CONVERTER_JAR, data_home, jars_dir

POM = Path(__file__).resolve().parent / "pom.xml"
HOW = "build it with `mysql2dynamo emr jars` (Maven, from the packaged emr/pom.xml)"


class JarsError(RuntimeError):
    pass


def converter_jar() -> Path:
    return jars_dir() / CONVERTER_JAR


def require_converter_jar() -> Path:
    """The converter jar, or an error that says how to build it."""
    jar = converter_jar()
    if not jar.is_file():
        raise JarsError(f"no {CONVERTER_JAR} in {jar.parent}: {HOW}")
    return jar


def maven_command(dest: Path) -> list[str]:
    """`mvn package` of the packaged pom, writing the jars to `dest` and its build files under the state
    folder (never next to the pom, which may sit in site-packages)."""
    return ["mvn", "-q", "-B", "-f", str(POM), f"-Djars.dir={dest}",
            f"-Dm2d.build.dir={data_home() / 'build' / 'emr'}", "package"]


def build_jars(dest: Path | None = None) -> Path:
    """Run the Maven build into `dest` (default `jars_dir()`); returns the converter jar."""
    dest = dest or jars_dir()
    if shutil.which("mvn") is None:
        raise JarsError("Maven (`mvn`) is not on PATH; install it (Debian: apt-get install maven) and a JDK 17+")
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(maven_command(dest), capture_output=True, text=True)
    if done.returncode != 0:
        raise JarsError(f"the Maven build failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return dest / CONVERTER_JAR
