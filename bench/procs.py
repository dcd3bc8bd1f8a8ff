"""Starting, watching and stopping the processes under test, each in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class BenchError(Exception):
    """A step of the benchmark could not run; the message says which and why."""


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        return tail(self.log, lines)


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """Every process the benchmark started; `stop()` ends them all (also on Ctrl-C)."""

    logs: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, cmd: list[str]) -> Proc:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, spared by a terminal's Ctrl-C
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(self, name: str, cmd: list[str], *, timeout: float = 120.0) -> str:
        """Run a one-shot command to completion; raise with its output if it fails."""
        proc = self.start(name, cmd)
        try:
            rc = proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.popen, signal.SIGKILL)
            raise BenchError(
                f"{name} did not finish within {timeout:.0f}s:\n{proc.tail()}"
            ) from None
        finally:
            self.procs.remove(proc)
        output = proc.log.read_text(errors="replace")
        if rc != 0:
            raise BenchError(f"{name} failed (exit {rc}):\n{proc.tail()}")
        return output

    def stop(self, grace: float = 8.0) -> None:
        for proc in reversed(self.procs):
            if proc.alive():
                _kill_group(proc.popen, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(proc.popen, signal.SIGKILL)
                proc.popen.wait(timeout=5)
        self.procs.clear()


def _kill_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, sig)


def wait_http(proc: Proc, url: str, *, timeout: float = 60.0) -> None:
    """Wait until `url` answers at all; fail early (with the log) if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited during start-up:\n{proc.tail()}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise BenchError(f"{proc.name} did not answer {url} within {timeout:.0f}s:\n{proc.tail()}")


def wait_log(proc: Proc, needle: str, *, timeout: float = 60.0) -> None:
    """Wait until the process's log contains `needle` (e.g. Celery's "ready.")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited during start-up:\n{proc.tail()}")
        if needle in proc.log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise BenchError(f"{proc.name} was not ready within {timeout:.0f}s:\n{proc.tail()}")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of one process in kB; zeros if it is gone."""
    values = {"VmRSS:": 0, "VmHWM:": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(maxsplit=1)[0] if line else ""
            if key in values:
                values[key] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return values["VmRSS:"], values["VmHWM:"]
