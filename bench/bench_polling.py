"""Benchmark: polling passes over 2,000 and 10,000 feeds, ours and the peers', on one farm.

The farm (``farm.py``) serves ``--feeds`` polling feeds (default 10,000) of ``--entries`` (2)
entries each over 100 loopback hosts, every answer delayed ``--delay-ms`` (150 ms). Even feeds
send an ETag and Last-Modified and answer a matching conditional GET with 304; odd feeds send
no validators, so on a second pass half the feeds answer 304 and half answer 200 with entries
already seen. The pass is about polling: no page is fetched, nothing is new.

**Ours**, in this process, one store and context for all passes (as the daemon keeps them;
``monitor check`` would add its start-up, measured once as ``setup_seconds``), project
defaults for ``[polling]``, the stage seams timed (``stages.py``: the busiest functions of each
pass are in the results):

1. pass 1 over all feeds with no delay: every feed new (200, parsed) and every entry new; each
   entry's link is a document of its own that is not HTML, refused before its body is read, so
   the entry is stored with its summary and no page is extracted: set-up, reported;
2. pass 2 over the first 2,000 feeds, then over all 10,000, with the delay: half 304, the other
   half 200 with entries already seen (by guid; each has its own canonical URL, as in life).

**Peers** (``peers.py``) on the same first 2,000 feeds: a sanity run on two feeds that must
mail their entries to the farm's SMTP sink; pass 1 with no delay and without sending
(``r2e run --no-send``, ``feed2exec fetch --catchup``: entries marked seen); pass 2 with the
delay, sending (nothing is new). A peer's pass 2 stops after ``--peer-budget`` seconds: its
feeds/s is then over the feeds it did (the farm counts them by User-Agent) and its time for
2,000 feeds is projected (both tools poll one feed after the other, so their rate is steady).
The two peers run side by side, to save the suite's time: each polls one feed at a time and
spends most of it waiting for the farm's delayed answer (their CPU seconds, each measured
apart, are in the results; far below one core each).

Results: ``bench/results/polling.json`` and ``bench/results/peers.json``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import peers
from bench_e2e import write_config
from corpus import Spec
from farm import FarmProcess, cpu_seconds
from stages import busiest, install, peak_rss_mib, process_cpu, snapshot

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _served(farm: FarmProcess, who: str) -> dict[str, int]:
    stats = farm.stats()["stats"]
    return {"200": stats.get(f"{who} poll-feed 200", 0), "304": stats.get(f"{who} poll-feed 304",
                                                                           0)}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after}


def ours(farm: FarmProcess, tmp: Path, sizes: list[int], delay: float) -> dict[str, Any]:
    from monitor.cli import build_context
    from monitor.config import load_config
    from monitor.pipeline import run_once
    from monitor.store import Store

    timers = install()  # CPU per function of each pass (this process only: the peers are not)
    corpus = farm.corpus
    feeds = [(f"poll-{i}", corpus.poll_url(i)) for i in range(max(sizes))]
    path = write_config(tmp, feeds, farm.hook_url)
    started = time.perf_counter()
    config = load_config(path)
    store = Store.open(config.database)
    ctx = build_context(config, store)
    setup = time.perf_counter() - started
    by_name = {f.name: f for f in config.feeds}
    polled = [by_name[f"poll-{i}"] for i in range(max(sizes))]
    result: dict[str, Any] = {"setup_seconds": round(setup, 2),
                              "polling_config": {"concurrency": config.polling.concurrency,
                                                 "per_host": config.polling.per_host}}

    def one_pass(feeds_: list[Any], label: str) -> dict[str, Any]:
        before, cpu0, farm0 = _served(farm, "news-monitor"), process_cpu(), cpu_seconds(farm.pid)
        rows0 = snapshot(timers)
        start = time.perf_counter()
        try:
            summary, error = run_once(ctx, feeds_).summary(), None
        except Exception as e:  # an unexpected failure stops the pass: reported, not fatal
            summary, error = None, f"{type(e).__name__}: {e}"
        seconds = time.perf_counter() - start
        functions = busiest(rows0, snapshot(timers))
        answers = _delta(_served(farm, "news-monitor"), before)
        row = {"feeds": len(feeds_), "seconds": round(seconds, 2),
               "feeds_per_s": round(len(feeds_) / seconds, 1),
               "cpu_seconds": round(process_cpu() - cpu0, 2),
               "farm_cpu_seconds": round(cpu_seconds(farm.pid) - farm0, 2),
               "answers": answers, "summary": summary, "busiest_functions": functions}
        if error:
            row["error"] = error
            print(f"  ours {label}: FAILED after {seconds:.1f} s: {error}", flush=True)
        print(f"  ours {label}: {row['feeds']} feeds in {row['seconds']} s = "
              f"{row['feeds_per_s']} feeds/s, answers {answers}", flush=True)
        return row

    try:
        farm.set_delay(0)
        result["pass1_no_delay"] = one_pass(polled, "pass 1 (no delay)")
        farm.set_delay(delay)
        result["pass2"] = {str(n): one_pass(polled[:n], f"pass 2, {n}") for n in sizes}
    finally:
        ctx.client.close()
        store.close()
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def run_peers(names: list[str], farm: FarmProcess, tmp: Path, n: int, delay: float,
              budget: float) -> dict[str, Any]:
    """The peers side by side (each mostly waits for the farm's answers; each one's CPU is
    its own, from ``wait4``): a sanity run, pass 1 without delay and without sending, pass 2
    with the delay, sending, stopped after ``budget`` seconds."""
    out: dict[str, Any] = {}
    feeds = [(f"poll-{i}", farm.corpus.poll_url(i)) for i in range(n)]
    for name in names:
        out[name] = peers.ensure(name)
        if not out[name]["installed"]:
            print(f"  {name}: not installed: {out[name]['error']}", flush=True)
    ready = [name for name in names if out[name]["installed"]]
    farm.set_delay(0)
    for name in ready:
        sent0 = farm.stats()["smtp_messages"]
        getattr(peers, f"{name}_setup")(tmp / f"{name}-sanity", feeds[:2], farm.smtp_port)
        sanity = getattr(peers, f"{name}_run")(tmp / f"{name}-sanity", send=True).finish(
            time.monotonic() + 120)
        out[name]["sanity"] = {**sanity, "messages_sent": farm.stats()["smtp_messages"] - sent0,
                               "messages_expected": 2 * farm.spec.poll_entries}
        getattr(peers, f"{name}_setup")(tmp / name, feeds, farm.smtp_port)
    for label, send, wait, limit in (("pass1_no_delay", False, 0.0, 600.0),
                                     ("pass2", True, delay, budget)):
        farm.set_delay(wait)
        before = {name: _served(farm, name) for name in ready}
        farm0 = cpu_seconds(farm.pid)
        runs = {name: getattr(peers, f"{name}_run")(tmp / name, send=send) for name in ready}
        deadline = time.monotonic() + limit
        rows = {name: run.finish(deadline) for name, run in runs.items()}
        farm_cpu = round(cpu_seconds(farm.pid) - farm0, 2)
        for name, row in rows.items():
            answers = _delta(_served(farm, name), before[name])
            done = answers["200"] + answers["304"]
            row.update(feeds=n, feeds_done=done, answers=answers, side_by_side=ready,
                       feeds_per_s=round(done / row["seconds"], 2) if row["seconds"] else 0.0,
                       farm_cpu_seconds_all_peers=farm_cpu)
            if done:
                row["projected_seconds_all_feeds"] = round(row["seconds"] * n / done, 1)
            out[name][label] = row
            print(f"  {name} {label}: {done}/{n} feeds in {row['seconds']} s = "
                  f"{row['feeds_per_s']} feeds/s, CPU {row['cpu_seconds']} s"
                  f"{'' if row['completed'] else ' (budget reached)'}, answers {answers}",
                  flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--entries", type=int, default=2)
    parser.add_argument("--delay-ms", type=float, default=150.0)
    parser.add_argument("--peer-feeds", type=int, default=2000)
    parser.add_argument("--peer-budget", type=float, default=90.0,
                        help="seconds for each peer's measured pass")
    parser.add_argument("--peers", nargs="*", default=["rss2email", "feed2exec"])
    args = parser.parse_args()
    sizes = sorted(args.feeds)
    spec = Spec(articles=0, outlets=1, poll_feeds=max(sizes), poll_entries=args.entries,
                delay_ms=args.delay_ms, smtp=bool(args.peers))
    delay = args.delay_ms
    with FarmProcess(spec) as farm, tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        result = {"benchmark": "polling passes, half the feeds answering 304",
                  "feeds": sizes, "entries_per_feed": args.entries, "hosts": spec.poll_hosts,
                  "delay_ms": delay, "ours": ours(farm, Path(tmp), sizes, delay)}
        others: dict[str, Any] = {"benchmark": "peers polling the same feeds on the same farm",
                                  "feeds": args.peer_feeds, "delay_ms": delay,
                                  "budget_seconds_per_pass": args.peer_budget}
        others.update(run_peers(args.peers, farm, Path(tmp), args.peer_feeds, delay,
                                args.peer_budget))
    ours_2k = result["ours"]["pass2"].get(str(args.peer_feeds))
    if ours_2k:
        others["ours"] = {k: ours_2k[k] for k in ("feeds", "seconds", "feeds_per_s")}
        for name in args.peers:
            p2 = others[name].get("pass2")
            if p2 and p2.get("feeds_done"):
                others[f"time_ours_over_{name}"] = round(
                    ours_2k["seconds"] / p2["projected_seconds_all_feeds"], 3)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "polling.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "peers.json").write_text(json.dumps(others, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
