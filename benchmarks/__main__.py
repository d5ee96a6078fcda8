"""`make bench`: run every benchmark and rewrite BENCHMARKS.md with the machine, versions and results.

Environment:
- FOOTFALL_BENCH_CUSTOMERS: size of the synthetic world (default 1,000,000).
- FOOTFALL_BENCH_ONLY: comma-separated benchmark names to run (default: all, in BENCHMARKS order).
- FOOTFALL_BENCH_COLLECT_SECONDS, FOOTFALL_BENCH_COLLECT_CONNECTIONS: see `bench_collect.section`.
Work files go to bench-work/ (git-ignored); a generated world is kept there and reused while its
parameters match, since generating 1M customers takes minutes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import bench_collect, bench_import
from benchmarks.machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent

# name -> function(workdir, customers) returning a Markdown section
BENCHMARKS: dict[str, Callable[[Path, int], str]] = {
    "import": bench_import.section,
    "collect": bench_collect.section,
}


def main() -> None:
    customers = int(os.environ.get("FOOTFALL_BENCH_CUSTOMERS", "1000000"))
    only = [name for name in os.environ.get("FOOTFALL_BENCH_ONLY", "").split(",") if name]
    workdir = ROOT / "bench-work"
    workdir.mkdir(exist_ok=True)
    sections = []
    for name, bench in BENCHMARKS.items():
        if only and name not in only:
            continue
        print(f"running benchmark: {name}", flush=True)
        sections.append(bench(workdir, customers))
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
    print((ROOT / "BENCHMARKS.md").read_text())


if __name__ == "__main__":
    main()
