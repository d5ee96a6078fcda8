"""`make bench`: run every benchmark and rewrite BENCHMARKS.md with the machine, versions and results.

Scale with FOOTFALL_BENCH_CUSTOMERS (default 1,000,000); work files go to bench-work/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import bench_import
from benchmarks.machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    customers = int(os.environ.get("FOOTFALL_BENCH_CUSTOMERS", "1000000"))
    workdir = ROOT / "bench-work"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    sections = [bench_import.report(result := bench_import.run(workdir, customers))]
    (workdir / "import.json").write_text(bench_import.as_json(result))
    machine = describe_machine()
    header = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `make bench` (rewritten on every run). "
        "Each row compares Footfall with the tool a user would otherwise use, side by side in one run.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in machine.items()],
        "",
    ]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(header + sections) + "\n", encoding="utf-8")
    shutil.rmtree(workdir / "world", ignore_errors=True)
    print((ROOT / "BENCHMARKS.md").read_text())


if __name__ == "__main__":
    main()
