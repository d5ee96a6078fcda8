"""Running `footfall serve` for real: a uvicorn subprocess on 127.0.0.1 and a free port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

FOOTFALL = str(Path(sys.executable).with_name("footfall"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A `footfall serve` process; `start` returns once /health answers."""

    def __init__(self, project_root: Path, port: int | None = None, loader_interval_s: float = 0.0,
                 workers: int = 1, serve_args: tuple[str, ...] = ()) -> None:
        self.project_root = project_root
        self.serve_args = serve_args  # further `footfall serve` options, e.g. ("--public-url", url)
        self.workers = workers
        self.port = port or free_port()
        self.loader_interval_s = loader_interval_s
        self.process: subprocess.Popen | None = None
        self.log = project_root / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> Server:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [FOOTFALL, "serve", "--project", str(self.project_root), "--port", str(self.port),
                 "--loader-interval", str(self.loader_interval_s), "--workers", str(self.workers),
                 "--log-level", "warning", *self.serve_args],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"footfall serve exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"footfall serve did not start within {timeout_s} s: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
