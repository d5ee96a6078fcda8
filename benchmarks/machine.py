"""The machine and library versions a benchmark ran with, for the report header; memory of processes,
and running a contender under a memory limit."""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

PACKAGES = ("footfall", "duckdb", "ibis-framework", "pyarrow", "pandas", "pyspark", "splink", "sqlglot")


def process_memory_gib(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's memory from /proc/PID/status in GiB: `VmRSS` (resident now) or `VmHWM` (peak, reset
    by exec, unlike getrusage's ru_maxrss, which keeps the forking parent's high-water mark); 0.0 once
    the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


@dataclass
class Watched:
    """How a child process ended: its output, the peak of its sampled resident memory, and why it was
    stopped (None: it ended by itself)."""

    returncode: int
    stdout: str
    stderr: str
    sampled_peak_gib: float
    stopped: str | None

    def last_error_line(self) -> str:
        return (self.stderr.strip().splitlines() or ["killed"])[-1]


def run_watched(command: list[str], limit_gib: float, timeout_s: float | None = None, **popen: Any) -> Watched:
    """Run a command, sampling its resident memory every 0.2 s; stop it above `limit_gib` (or after
    `timeout_s`) so one contender cannot starve the shared machine."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    done, started = threading.Event(), time.monotonic()
    state: dict[str, Any] = {"peak": 0.0, "stopped": None}

    def watch() -> None:
        while not done.is_set():
            state["peak"] = max(state["peak"], process_memory_gib(process.pid))
            if state["peak"] > limit_gib:
                state["stopped"] = f"stopped above {limit_gib:g} GiB resident memory"
                process.kill()
            elif timeout_s is not None and time.monotonic() - started > timeout_s:
                state["stopped"] = f"stopped after {timeout_s:.0f} s"
                process.kill()
            done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    done.set()
    watcher.join()
    return Watched(process.returncode, stdout, stderr, state["peak"], state["stopped"])


def _memory_gib() -> float:
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_machine() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": f"{_cpu_model()} ({os.cpu_count()} cores)",
        "memory": f"{_memory_gib():.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        **versions,
    }
