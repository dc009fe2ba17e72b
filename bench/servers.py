"""gunicorn servers for the benchmarks: start one app module with the project's gunicorn.conf.py,
wait for it, read its worker's CPU time, stop it (process group, SIGTERM then SIGKILL).

`bench/api.py` and `bench/live.py` serve the app and their bare baselines with exactly this
command, so every server compared runs the same gunicorn configuration.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class BenchError(RuntimeError):
    """The measurement itself is invalid (a server failed, a load tool saw errors)."""


def tool(name: str) -> str:
    """Path of a console script of this venv (or of the project's .venv)."""
    exe = BIN / name
    if not exe.exists():
        exe = ROOT / ".venv" / "bin" / name
    return str(exe)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int | None) -> float | None:
    """User+system CPU seconds of pid (Linux /proc), None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"    | {line}" for line in text[-lines:])


@dataclass
class Server:
    """`gunicorn -c gunicorn.conf.py -b 127.0.0.1:<port> --no-control-socket <target>` in its own process group."""

    name: str
    target: str  # gunicorn's APP_MODULE
    env: dict[str, str]
    log: Path
    path: str = "/"  # what the load tool requests
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(self.env, PORT=str(self.port))
        cmd = [tool("gunicorn"), "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{self.port}",
               "--no-control-socket", self.target]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = 60.0, probe: str | None = None) -> None:
        """Wait until gunicorn listens (and, with `probe`, until that path answers 200: the worker is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"{self.name}: gunicorn exited with {self.proc.returncode}\n"
                                 + tail(self.log))
            try:
                if probe is None:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return
                with urllib.request.urlopen(self.base + probe, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name}: gunicorn did not listen within {timeout:.0f} s\n" + tail(self.log))

    def worker_pid(self) -> int | None:
        """The pid of gunicorn's (single) worker, a child of the master."""
        if self.proc is None:
            return None
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def worker_cpu_s(self) -> float | None:
        """CPU seconds of the worker so far."""
        return cpu_seconds(self.worker_pid())

    def stop(self) -> None:
        """SIGTERM the process group (master and worker), SIGKILL it if it lingers."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        stop_group(proc, grace_s=25)


def stop_group(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers (and whatever outlived its leader)."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # children that outlived their leader
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
