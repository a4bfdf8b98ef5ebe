"""Start, stop and inspect the local stack: processes tracked by pid file, health-checked.

`up` is idempotent (a running, healthy server is left alone), refuses a port another process
holds, and returns only when every server answers a real request. `down` stops what `up`
started and nothing else: a pid is only signalled while its command line still names this
stack's data folder, so a recycled pid is never killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.local.services import SERVICES, Service, StackError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    stands_in_for: str
    port: int
    pid: int | None
    running: bool
    healthy: bool
    rss_mb: float | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _pid_file(cfg: StackConfig, svc: Service) -> Path:
    return cfg.home / "run" / f"{svc.name}.pid"


def _log_file(cfg: StackConfig, svc: Service) -> Path:
    return cfg.home / "log" / f"{svc.name}.log"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _tracked_pid(cfg: StackConfig, svc: Service) -> int | None:
    """The pid from the pid file, if that process is alive and is still this stack's server."""
    try:
        pid = int(_pid_file(cfg, svc).read_text().strip())
    except (OSError, ValueError):
        return None
    cmd = _cmdline(pid)
    if not cmd or str(cfg.home) not in cmd and str(svc.port(cfg)) not in cmd:
        return None
    return pid


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _is_healthy(cfg: StackConfig, svc: Service) -> bool:
    try:
        svc.healthy(cfg)
        return True
    except Exception:
        return False


def _spawn(cfg: StackConfig, svc: Service) -> int:
    for folder in ("run", "log"):
        (cfg.home / folder).mkdir(parents=True, exist_ok=True)
    log = open(_log_file(cfg, svc), "ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        svc.command(cfg), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=cfg.home, env=env,
    )
    log.close()
    _pid_file(cfg, svc).write_text(str(proc.pid))
    return proc.pid


def _wait_healthy(cfg: StackConfig, svc: Service, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _cmdline(pid):
            tail = _log_file(cfg, svc).read_text(errors="replace")[-2000:]
            raise StackError(f"{svc.name} exited while starting; its log ({_log_file(cfg, svc)}):\n{tail}")
        if _is_healthy(cfg, svc):
            return
        time.sleep(0.2)
    raise StackError(f"{svc.name} did not answer on {cfg.host}:{svc.port(cfg)} within {timeout:.0f}s; "
                     f"see {_log_file(cfg, svc)}")


def up(cfg: StackConfig, progress: Progress = lambda msg: None, timeout: float = 120.0) -> float:
    """Start every server that is not running; return the seconds it took."""
    started = time.monotonic()
    cfg.home.mkdir(parents=True, exist_ok=True)
    to_start: list[Service] = []
    for svc in SERVICES:
        pid = _tracked_pid(cfg, svc)
        if pid and _is_healthy(cfg, svc):
            progress(f"{svc.name:<10} already running (pid {pid}, port {svc.port(cfg)})")
            continue
        if pid:
            _stop(cfg, svc, pid)
        if port_in_use(cfg.host, svc.port(cfg)):
            raise StackError(
                f"port {svc.port(cfg)} on {cfg.host} ({svc.name}, the local {svc.stands_in_for}) is "
                f"taken by another process; stop it or choose another port with {svc.port_env}=<port>"
            )
        to_start.append(svc)
    for svc in to_start:
        svc.prepare(cfg)
    pids = {svc.name: _spawn(cfg, svc) for svc in to_start}
    for svc in to_start:
        _wait_healthy(cfg, svc, pids[svc.name], timeout)
        svc.after_start(cfg)
        progress(f"{svc.name:<10} started (pid {pids[svc.name]}, {cfg.host}:{svc.port(cfg)}) "
                 f"as the local {svc.stands_in_for}")
    return time.monotonic() - started


def _stop(cfg: StackConfig, svc: Service, pid: int, timeout: float = 30.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while _cmdline(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if _cmdline(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(pid)
    _pid_file(cfg, svc).unlink(missing_ok=True)


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child (else it lingers as a zombie)."""
    try:
        os.waitpid(pid, 0 if not _cmdline(pid) else os.WNOHANG)
    except ChildProcessError:
        pass


def down(cfg: StackConfig, progress: Progress = lambda msg: None) -> None:
    """Stop every server of this stack; its data stays for the next `up`."""
    for svc in reversed(SERVICES):
        pid = _tracked_pid(cfg, svc)
        if pid is None:
            _pid_file(cfg, svc).unlink(missing_ok=True)
            continue
        _stop(cfg, svc, pid)
        progress(f"{svc.name:<10} stopped (pid {pid})")


def status(cfg: StackConfig) -> list[ServiceStatus]:
    result = []
    for svc in SERVICES:
        pid = _tracked_pid(cfg, svc)
        result.append(ServiceStatus(
            name=svc.name, stands_in_for=svc.stands_in_for, port=svc.port(cfg), pid=pid,
            running=pid is not None, healthy=pid is not None and _is_healthy(cfg, svc),
            rss_mb=_rss_mb(pid) if pid else None,
        ))
    return result


def shell_exports(cfg: StackConfig) -> str:
    """`export NAME='value'` lines for `eval "$(mysql2dynamo local env)"`."""
    return "\n".join(f"export {k}='{v}'" for k, v in cfg.env().items())
