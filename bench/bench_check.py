"""Benchmark: one full `check` pass over the bundled sample news site.

Measures wall time per stage-complete pass (poll both feeds, fetch and extract every new page,
match, store, deliver to a console target writing to /dev/null) on a fresh database each round,
and the process's peak RSS. Results are written to bench/results/check.json and printed; nothing
is asserted.

    .venv/bin/python bench/bench_check.py [--rounds N]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import resource
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from monitor.cli import DEMO_NOW, build_context
from monitor.config import load_config
from monitor.demo import demo_config, serve_site, shipped_rules
from monitor.pipeline import run_once
from monitor.store import Store

RESULTS = Path(__file__).parent / "results" / "check.json"
NOW = datetime.fromisoformat(DEMO_NOW)  # the demo's clock: one story alerts, two are stale


def one_round(base: str) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(demo_config(base, Path(tmp), shipped_rules()))
        store = Store.open(config.database)
        ctx = build_context(config, store, stream=io.StringIO(), clock=lambda: NOW)
        start = time.perf_counter()
        report = run_once(ctx)
        elapsed = time.perf_counter() - start
        ctx.client.close()
        store.close()
        return elapsed, report.summary()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with serve_site() as (base, _):
        one_round(base)  # warm-up: imports, trafilatura's first-call set-up
        times, summary = [], ""
        for _ in range(args.rounds):
            elapsed, summary = one_round(base)
            times.append(elapsed)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "benchmark": "check pass over the sample site (2 feeds, 31 entries, 21 pages)",
        "rounds": args.rounds,
        "seconds_median": round(statistics.median(times), 3),
        "seconds_min": round(min(times), 3),
        "seconds_max": round(max(times), 3),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "summary": summary,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
