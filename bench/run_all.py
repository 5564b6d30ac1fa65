"""``make bench``: every benchmark in turn, each with a size and a time budget, then the table.

Prints the machine (cores, memory, Python, library versions), installs the peers when missing
(``bench/.peers/``), runs each part as its own process, killed if it overruns its budget
(reported, the other parts still run), adds to each part's JSON the machine, the date, its size
and budget, how long it took and how much CPU other processes of the machine used meanwhile
(the cores are shared: each part first waits for them to go under 10 %, two minutes at
most in all), and writes the Markdown table to ``bench/results/README.md`` and, between their
markers, into ``bench/README.md`` and the project's ``README.md``. Numbers are reported, never
asserted: the "issue 8" column is what the issue asks for, for comparison.

    .venv/bin/python bench/run_all.py [--only e2e polling …] [--skip dedup …]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import peers
from table import render_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
READMES = (HERE / "README.md", HERE.parent / "README.md")  # each gets the table between markers
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
LIBRARIES = ("trafilatura", "feedparser", "lxml", "httpx", "pyahocorasick", "sqlite-utils",
             "APScheduler", "courlan")

# name, script, arguments, budget (s), results, size
PARTS: tuple[tuple[str, str, list[str], int, tuple[str, ...], str], ...] = (
    # 180 s: two rounds took 133.6-149.2 s of a 150 s budget on a slow host (2026-11-21)
    ("e2e", "bench_e2e.py", ["--articles", "2000"], 180, ("e2e.json",),
     "2,000 articles in 40 feeds on 40 hosts, 150 ms per answer; ceiling over the same pages"),
    ("ingest", "bench_ingest.py", ["--articles", "2000"], 40, ("ingest.json",),
     "the steps of ingest on one thread: 2,000 corpus articles, no network or extraction"),
    ("cheap", "bench_cheap.py", ["--articles", "2000"], 120, ("cheap.json",),
     "the e2e farm twice: full_text = always, then when_candidate; recall against always"),
    ("polling", "bench_polling.py", ["--feeds", "2000", "10000", "--peer-budget", "30"], 480,
     ("polling.json", "peers.json"),
     "2,000 and 10,000 feeds × 2 entries on 100 hosts, 150 ms; peers on the first 2,000 "
     "(their measured pass stopped after 30 s, rate projected)"),
    ("latency", "bench_latency.py", ["--entries", "20"], 80, ("latency.json",),
     "daemon, 10 feeds, 20 new reports 1.5 s apart"),
    ("match", "bench_match.py", ["--mb", "2", "--regex-budget", "6", "--repeat", "1"], 45,
     ("match.json",), "100 / 1,000 / 10,000 aliases over 2 MB of text"),
    # 60 s: the 1M history is a 1.3 GB file; once the parts before it have pushed it out of
    # the page cache, reading it again takes most of the 40 s this part had (2026-11-21: over
    # 40 s twice within make bench, 28.7 s alone just after, 7.5 s of it in the kernel)
    ("dedup", "bench_dedup.py", ["--stream", "300"], 60, ("dedup.json",),
     "10k / 100k / 1M articles of history (built once into bench/.cache: ~4 min more the "
     "first time), 300 lookups each"),
    ("stories", "bench_stories.py", ["--rounds", "10"], 30, ("stories.json",),
     "10k / 100k / 1M articles of history, 50 decisions each"),
)
WAIT_ALLOWANCE = 120.0  # seconds the whole run may spend waiting for a quiet machine


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
                            "arch": platform.machine(), "kernel": platform.release(),
                            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                           if line.startswith("model name"))
        mem = Path("/proc/meminfo").read_text().split()
        info["memory_gib"] = round(int(mem[mem.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    import pyexpat

    info["libexpat"] = pyexpat.EXPAT_VERSION
    info["libraries"] = {}
    for name in LIBRARIES:
        try:
            info["libraries"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["libraries"][name] = None
    info["news_monitor"] = metadata.version("news-monitor")
    try:  # the code measured: the commit, and whether monitor/ had uncommitted changes
        git = ["git", "-C", str(HERE.parent)]
        info["commit"] = subprocess.run([*git, "rev-parse", "--short", "HEAD"], text=True,
                                        capture_output=True, timeout=10).stdout.strip()
        changed = subprocess.run([*git, "status", "--porcelain", "--", "monitor"], text=True,
                                 capture_output=True, timeout=10).stdout.split("\n")
        info["monitor_uncommitted"] = sorted(line[3:] for line in changed if line.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def machine_cpu() -> float:
    """CPU seconds used by every process of the machine since boot (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU of this process and of the parts it ran (their processes are all reaped)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def wait_quiet(limit: float) -> float:
    """Wait (at most ``limit`` s) until other processes use under 10 % of the machine for
    2 s: the benchmarks share the cores with whatever else runs. Returns the share seen last."""
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + limit
    while True:
        busy0, own0 = machine_cpu(), own_cpu()
        time.sleep(2)
        share = max(0.0, machine_cpu() - busy0 - (own_cpu() - own0)) / (2 * cores)
        if share < 0.1 or time.monotonic() > deadline:
            return round(share, 3)
        print(f"   (other processes use {share:.0%} of the machine: waiting)", flush=True)


def probe(rounds: int = 7) -> float:
    """Milliseconds this process takes for a fixed piece of pure-Python work (dict, sort,
    str and bytes operations; the median of ``rounds``): the same code on the same machine,
    so a higher number means a slower host at that moment. This VM shares its host, and the
    other tenants do not show in /proc: the CPU shares above cannot see them, this can."""
    data = [f"{i:x}" for i in range(20_000)]
    times = []
    for _ in range(rounds + 1):  # the first round warms up: not counted
        start = time.perf_counter()
        table: dict[str, int] = {}
        for word in data:
            table[word] = len(word) + table.get(word[:-1], 0)
        " ".join(sorted(table, key=table.__getitem__)).encode().translate(bytes(range(256)))
        times.append(time.perf_counter() - start)
    return round(sorted(times[1:])[rounds // 2] * 1000, 2)


def dedup_cached() -> bool:
    """Whether the dedup histories are built (else the part builds them: ~4 min more)."""
    import bench_dedup

    key = bench_dedup.cache_key(2000)
    return all((bench_dedup.CACHE / f"dedup-{key}-{n}.db").exists()
               for n in (10_000, 100_000, 1_000_000))


def subreaper() -> None:
    """Become the reaper of the parts' orphans (Linux ``PR_SET_CHILD_SUBREAPER``): a fork
    server outlives the process that started it, and its CPU (every extraction it forked)
    must come back to this process's children's time, not pass for another process's."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def reap(limit: float = 10.0) -> None:
    """Wait for every leftover descendant (orphans now ours) to exit, ``limit`` s at most."""
    deadline = time.monotonic() + limit
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)


def run_part(name: str, script: str, args: list[str], budget: int,
             wait: float) -> dict[str, Any]:
    waited_from = time.perf_counter()
    before = wait_quiet(wait)
    print(f"\n== {name}: budget {budget} s: {' '.join([script, *args])}", flush=True)
    probe_before = probe()
    busy0, own0 = machine_cpu(), own_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / script), *args], cwd=HERE.parent,
                            start_new_session=True)
    try:
        code = proc.wait(budget)
        status = "ok" if code == 0 else f"failed (exit {code})"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the part and every process it started
        proc.wait()
        status = f"over budget: stopped after {budget} s"
    except BaseException:  # Ctrl-C: the part is in its own session, stop it too
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    seconds = round(time.perf_counter() - started, 1)
    reap()
    foreign = max(0.0, machine_cpu() - busy0 - (own_cpu() - own0))
    share = foreign / (seconds * (os.cpu_count() or 1)) if seconds else 0.0
    probes = [probe_before, probe()]
    print(f"== {name}: {status}, {seconds} s (other processes: {share:.0%} of the machine; "
          f"host probe {probes[0]} / {probes[1]} ms before / after)", flush=True)
    return {"status": status, "seconds": seconds, "others_share_before": before,
            "waited_seconds": round(started - waited_from, 1),
            "others_cpu_seconds": round(foreign, 1), "others_share": round(share, 3),
            "host_probe_ms": probes}


def stamp(files: tuple[str, ...], run: dict[str, Any], since: float) -> None:
    for file in files:
        path = RESULTS / file
        if not path.exists() or path.stat().st_mtime < since:
            run.setdefault("not_written", []).append(file)  # an older result stays as it was
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        data["run"] = run
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--skip", nargs="*", default=[])
    args = parser.parse_args()
    began = time.perf_counter()
    subreaper()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    print(f"machine: {info.get('cpu', '?')}, {info['cores']} cores, "
          f"{info.get('memory_gib', '?')} GiB, Linux {info['kernel']}, Python {info['python']}, "
          f"SQLite {info['sqlite']}, libexpat {info['libexpat']}")
    print("libraries: " + ", ".join(f"{k} {v}" for k, v in info["libraries"].items()))
    parts = [p for p in PARTS if (not args.only or p[0] in args.only) and p[0] not in args.skip]
    if any(p[0] == "dedup" for p in parts) and not dedup_cached():
        parts = [(n, s, a, b + 240 if n == "dedup" else b, f, z) for n, s, a, b, f, z in parts]
        print("dedup: its histories are not cached yet (bench/.cache/): built this time")
    print("plan: " + "; ".join(f"{p[0]} ≤ {p[3]} s" for p in parts)
          + f"; total ≤ {sum(p[3] for p in parts)} s + peers' install")
    if any(p[0] == "polling" for p in parts):
        started = time.perf_counter()
        info["peers"] = {name: peers.ensure(name) for name in peers.PACKAGES}
        print("peers: " + ", ".join(
            f"{n} {p.get('version') or 'not installed: ' + p.get('error', '')}"
            for n, p in info["peers"].items())
            + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    RESULTS.mkdir(exist_ok=True)
    summary_path = RESULTS / "summary.json"
    summary = (json.loads(summary_path.read_text()) if summary_path.exists() else {})
    summary.setdefault("parts", {})
    allowance = WAIT_ALLOWANCE
    for name, script, part_args, budget, files, size in parts:
        since = time.time()
        run = run_part(name, script, part_args, budget, allowance)
        allowance = max(0.0, allowance - run["waited_seconds"])
        run.update(date=date, budget_seconds=budget, size=size, arguments=part_args,
                   machine=info)
        stamp(files, run, since)
        summary["parts"][name] = {k: v for k, v in run.items() if k != "machine"}
    summary.update(date=date, machine=info,
                   seconds_total=round(time.perf_counter() - began, 1))
    summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
    table = render_table(RESULTS, summary)
    (RESULTS / "README.md").write_text(table, encoding="utf-8")
    for path in READMES:
        readme = path.read_text(encoding="utf-8")
        if START in readme and END in readme:
            head, rest = readme.split(START, 1)
            path.write_text(head + START + "\n" + table + END + rest.split(END, 1)[1],
                            encoding="utf-8")
    print("\n" + table)
    print(f"make bench: {time.perf_counter() - began:.0f} s in all")


if __name__ == "__main__":
    main()
