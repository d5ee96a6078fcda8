"""The machine and library versions a benchmark ran with, for the report header."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version

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
