"""`make bench`: run every benchmark and rewrite BENCHMARKS.md with the machine, versions and results.

Environment:
- FOOTFALL_BENCH_CUSTOMERS: size of the synthetic world (default 1,000,000).
- FOOTFALL_BENCH_ONLY: comma-separated benchmark names to run (default: all, in BENCHMARKS order).
  The other sections of BENCHMARKS.md are kept as they were (each sits between `<!-- bench:NAME -->`
  markers), so one benchmark can be re-measured without rerunning the hours-long rest.
- FOOTFALL_BENCH_COLLECT_SECONDS, FOOTFALL_BENCH_COLLECT_CONNECTIONS: see `bench_collect.section`.
- FOOTFALL_BENCH_BROWSER_SECONDS, FOOTFALL_BENCH_BROWSER_CONNECTIONS: see `bench_browser.section`.
Work files go to bench-work/ (git-ignored); a generated world is kept there and reused while its
parameters match, since generating 1M customers takes minutes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import bench_browser, bench_collect, bench_identity, bench_import, bench_profiles, bench_segments
from benchmarks.machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent

# name -> function(workdir, customers) returning a Markdown section
BENCHMARKS: dict[str, Callable[[Path, int], str]] = {
    "import": bench_import.section,
    "collect": bench_collect.section,
    "identity": bench_identity.section,
    "browser": bench_browser.section,
    "profiles": bench_profiles.section,
    "segments": bench_segments.section,
}


def main() -> None:
    customers = int(os.environ.get("FOOTFALL_BENCH_CUSTOMERS", "1000000"))
    only = [name for name in os.environ.get("FOOTFALL_BENCH_ONLY", "").split(",") if name]
    workdir = ROOT / "bench-work"
    workdir.mkdir(exist_ok=True)
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    target = ROOT / "BENCHMARKS.md"
    measured = {}
    for name, bench in BENCHMARKS.items():
        if only and name not in only:
            continue
        print(f"running benchmark: {name}", flush=True)
        measured[name] = bench(workdir, customers).strip()
    machine = describe_machine()
    header = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `make bench` (each section rewritten when its benchmark runs). "
        "Each row compares Footfall with the tool a user would otherwise use, side by side in one run.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in machine.items()],
        "",
    ]
    # Read the file only now: another benchmark may have rewritten it while this one ran.
    sections = {**kept_sections(target.read_text(encoding="utf-8") if target.exists() else ""), **measured}
    body = [f"<!-- bench:{name} -->\n{sections[name]}\n<!-- /bench:{name} -->\n" for name in BENCHMARKS if name in sections]
    target.write_text("\n".join(header + body), encoding="utf-8")
    print(target.read_text())


def kept_sections(text: str) -> dict[str, str]:
    """The sections of an earlier BENCHMARKS.md, by benchmark name."""
    found = re.finditer(r"<!-- bench:(\w+) -->\n(.*?)\n<!-- /bench:\1 -->", text, flags=re.DOTALL)
    return {match.group(1): match.group(2).strip() for match in found}


if __name__ == "__main__":
    main()
