"""Benchmark: latency of the daemon, from an entry appearing in a feed to its alert at a webhook.

A small farm (``--feeds`` news feeds of 20 entries, one outlet each, answers delayed
``--delay-ms``; its articles dated a month back, so the backlog opens no story that new reports
could join) and the real daemon, ``monitor run`` in its own process, with the webhook target
pointing at the farm's sink on 127.0.0.1 and ``[stories] group_wait = "0s"`` (the default, one
minute, would add a minute to every first alert by design).

Once the daemon has stored the backlog, ``--entries`` new attack reports (each on a distinct
base: each opens its own story and alerts) are published, one every ``--every`` seconds, round
robin over the feeds. Right after each one the feed is made due with ``Store.retry_feed``, the
call ``monitor feeds retry NAME`` makes (without a process start): ``[polling] floor`` cannot go
under 60 s, so without forcing the wait for the feed's next poll, uniform over its interval,
would dominate (about interval/2 on average; its own line in the results). The latency of an
entry is the time from its publication to the arrival of its alert at the sink, both read on
the farm's clock. What the daemon adds between them: up to ``DISPATCH_EVERY`` for its next look
at due feeds, the feed and page fetches (2 × the delay), extraction, ingest, and up to
``DELIVERY_EVERY`` for the next outbox drain.

Results: ``bench/results/latency.json``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_e2e import write_config
from corpus import Spec
from farm import FarmProcess
from stages import memory

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latency.json"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--every", type=float, default=1.5, help="seconds between entries")
    parser.add_argument("--delay-ms", type=float, default=150.0)
    parser.add_argument("--timeout", type=float, default=60.0, help="per alert, seconds")
    args = parser.parse_args()
    from monitor.scheduler import DELIVERY_EVERY, DISPATCH_EVERY
    from monitor.store import Store

    spec = Spec(articles=args.feeds * 20, per_feed=20, outlets=args.feeds,
                delay_ms=args.delay_ms, now=time.time() - 30 * 86400)
    with FarmProcess(spec) as farm, tempfile.TemporaryDirectory(prefix="bench-lat-") as tmp:
        farm.call("/_farm/prerender", "POST")
        feeds = [(f"news-{f}", farm.corpus.feed_url(f)) for f in range(spec.feeds)]
        extra = '\n[polling]\nfloor = "60s"\n\n[stories]\ngroup_wait = "0s"\n'
        config = write_config(Path(tmp), feeds, farm.hook_url, extra)
        # the shortest interval the config accepts
        config.write_text(config.read_text().replace('interval = "15m"', 'interval = "60s"'))
        log = (Path(tmp) / "daemon.log").open("w")
        started = time.perf_counter()
        daemon = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config",
                                   str(config)], stdout=log, stderr=subprocess.STDOUT)
        result: dict[str, Any] = {"benchmark": "daemon latency: entry published → alert at "
                                  "the webhook sink", "feeds": spec.feeds,
                                  "backlog_articles": spec.articles, "delay_ms": spec.delay_ms,
                                  "config": {"floor": "60s", "interval": "60s",
                                             "group_wait": "0s"},
                                  "daemon": {"DISPATCH_EVERY": DISPATCH_EVERY,
                                             "DELIVERY_EVERY": DELIVERY_EVERY}}
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # the backlog: every page fetched and stored
                served = farm.stats()["stats"].get("news-monitor news-page 200", 0)
                if served >= spec.articles:
                    break
                time.sleep(0.5)
            time.sleep(3)
            result["backlog_seconds"] = round(time.perf_counter() - started, 1)
            hooks0 = len(farm.call("/_farm/hooks"))
            store = Store.open(Path(tmp) / "monitor.db")
            published: list[dict[str, Any]] = []
            for k in range(args.entries):
                feed = k % spec.feeds
                item = farm.call(f"/_farm/publish?feed={feed}", "POST")
                if hasattr(store, "retry_feed"):
                    store.retry_feed(f"news-{feed}", datetime.now(UTC))
                else:  # renamed: the command, with its process start
                    subprocess.run([sys.executable, "-m", "monitor", "feeds", "retry",
                                    f"news-{feed}", "--config", str(config)], check=True,
                                   capture_output=True)
                item["forced_after"] = round(time.time() - item["t"], 3)
                published.append(item)
                time.sleep(args.every)
            store.close()
            pending = {p["url"]: p for p in published}
            latencies: dict[str, float] = {}
            deadline = time.monotonic() + args.timeout
            while pending.keys() - latencies.keys() and time.monotonic() < deadline:
                for hook in farm.call(f"/_farm/hooks?since={hooks0}"):
                    body = hook["body"] if isinstance(hook["body"], dict) else {}
                    url = (body.get("article") or {}).get("url")
                    if url in pending and url not in latencies:
                        latencies[url] = hook["t"] - pending[url]["t"]
                time.sleep(0.2)
            fetched = {int(k): v for k, v in farm.stats()["published_fetched"].items()}
            rss, pss, count = memory(daemon.pid)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
            log.close()
        lines = (Path(tmp) / "daemon.log").read_text(encoding="utf-8").splitlines()
        result["daemon_log"] = {"lines": len(lines),
                                "warnings_or_errors": [x for x in lines
                                                       if " WARNING " in x or " ERROR " in x][:5]}
    values = list(latencies.values())
    to_fetch = [fetched[p["index"]] - p["t"] for p in published if p["index"] in fetched]
    after = [latencies[p["url"]] - (fetched[p["index"]] - p["t"]) for p in published
             if p["index"] in fetched and p["url"] in latencies]
    result.update({
        "entries": args.entries, "every_seconds": args.every, "alerts_received": len(values),
        "missing": [u for u in pending if u not in latencies],
        "latency_seconds": {"p50": _pct(values, 0.5), "p95": _pct(values, 0.95),
                            "min": _pct(values, 0), "max": _pct(values, 1),
                            "mean": round(statistics.fmean(values), 2)} if values else {},
        "published_to_page_fetched_seconds": {"p50": _pct(to_fetch, 0.5),
                                              "p95": _pct(to_fetch, 0.95)} if to_fetch else {},
        "page_fetched_to_alert_seconds": {"p50": _pct(after, 0.5),
                                          "p95": _pct(after, 0.95)} if after else {},
        "expected_extra_without_forcing_seconds": {
            "mean": 30.0, "p95": 57.0,
            "note": "the wait for the feed's next poll, uniform over a 60 s interval "
                    "(the floor's minimum), not included above"},
        "daemon_tree_rss_mib_end": round(rss, 1), "daemon_tree_pss_mib_end": round(pss, 1),
        "daemon_processes_end": count, "daemon_exit_code": daemon.returncode,
    })
    print(f"  latency: {len(values)}/{args.entries} alerts, p50 "
          f"{result['latency_seconds'].get('p50')} s, p95 {result['latency_seconds'].get('p95')}"
          " s (forced polls)", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
