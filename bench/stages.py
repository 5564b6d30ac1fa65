"""CPU per pipeline stage, by timing the stage seams (in the benchmark process only).

``install()`` wraps the seam functions the pipeline calls (``monitor.sources.poll`` and
``parse``, ``GuardedClient.get``, ``monitor.extract.extract``, ``monitor.match.match``, the
dedup functions, every public ``Store`` method, delivery…) where they are looked up at call
time, so the pipeline runs unchanged. Each call adds, to its function's row, the CPU time of the
calling thread (``time.thread_time``) spent in it **minus** what nested wrapped calls took
(exclusive time: a store call inside ``ingest`` counts as store, not as ingest), and its wall
time (inclusive). A seam missing from the code (renamed by a refactoring) is skipped and listed
in ``missing``: the report never breaks, it says what it could not see.

The CPU of child processes (trafilatura's extraction processes) is not seen by the wrappers:
``tree_cpu`` reads it from ``/proc``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (module, attribute, stage): the attribute may be "Class.method".
SEAMS: tuple[tuple[str, str, str], ...] = (
    ("monitor.pipeline", "run_once", "other"),
    ("monitor.pipeline", "poll_feed", "other"),
    ("monitor.pipeline", "ingest", "other"),
    ("monitor.pipeline", "deliver", "delivery"),
    ("monitor.ingest", "_queue", "delivery"),
    ("monitor.sources", "poll", "polling"),
    ("monitor.dispatch", "Dispatcher._start_ready", "polling"),
    ("monitor.sources", "parse", "feed parsing"),
    ("monitor.net.client", "GuardedClient.get", "HTTP client"),
    ("monitor.extract", "extract", "extraction"),
    ("monitor.match", "match", "matching"),
    ("monitor.match", "load_rules", "other"),
    ("monitor.dedup", "canonical_url", "dedup"),
    ("monitor.dedup.near", "fingerprint", "dedup"),
    ("monitor.dedup.stories", "assign", "dedup"),
)
DEDUP_STORE = frozenset({"find_near", "find_seen", "recent_stories"})
STAGES = ("extraction", "HTTP client", "polling", "feed parsing", "matching", "dedup", "store",
          "delivery", "other")


class Timers:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, dict[str, Any]] = {}
        self.local = threading.local()
        self.missing: list[str] = []

    def row(self, name: str, stage: str) -> dict[str, Any]:
        with self.lock:
            return self.rows.setdefault(name, {"stage": stage, "calls": 0, "cpu": 0.0,
                                               "wall": 0.0})

    def timed(self, fn: Callable[..., Any], name: str, stage: str) -> Callable[..., Any]:
        row = self.row(name, stage)
        timers = self

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            stack = timers.stack()
            stack.append(0.0)
            c0, w0 = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
                nested = stack.pop()
                if stack:
                    stack[-1] += cpu
                with timers.lock:
                    row["calls"] += 1
                    row["cpu"] += cpu - nested
                    row["wall"] += wall

        return wrapper

    def stack(self) -> list[float]:
        stack: list[float] | None = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        return stack

    def timed_cm(self, fn: Callable[..., Any], name: str, stage: str) -> Callable[..., Any]:
        """A context-manager method: its enter and exit are timed (BEGIN … COMMIT)."""
        enter = self.timed(lambda cm: cm.__enter__(), name, stage)
        leave = self.timed(lambda cm, *exc: cm.__exit__(*exc), name, stage)

        class Timed:
            def __init__(self, cm: Any) -> None:
                self.cm = cm

            def __enter__(self) -> Any:
                return enter(self.cm)

            def __exit__(self, *exc: Any) -> Any:
                return leave(self.cm, *exc)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return Timed(fn(*args, **kwargs))

        return wrapper


TIMERS = Timers()


def install() -> Timers:
    for module_name, attr, stage in SEAMS:
        try:
            owner: Any = importlib.import_module(module_name)
            *path, last = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            fn = getattr(owner, last)
        except (ImportError, AttributeError):
            TIMERS.missing.append(f"{module_name}.{attr}")
            continue
        setattr(owner, last, TIMERS.timed(fn, f"{module_name}.{attr}", stage))
    from monitor.store import Store

    for name in dir(Store):
        if name.startswith("_") or name == "open":
            continue
        static = inspect.getattr_static(Store, name)
        if not inspect.isfunction(static):
            continue
        stage = "dedup" if name in DEDUP_STORE else "store"
        wrap = TIMERS.timed_cm if name == "transaction" else TIMERS.timed
        setattr(Store, name, wrap(static, f"Store.{name}", stage))
    return TIMERS


def snapshot(timers: Timers) -> dict[str, tuple[int, float, float]]:
    with timers.lock:
        return {name: (r["calls"], r["cpu"], r["wall"]) for name, r in timers.rows.items()}


def busiest(before: dict[str, tuple[int, float, float]], after: dict[str, tuple[int, float,
            float]], top: int = 8) -> dict[str, dict[str, float]]:
    """The ``top`` functions by CPU between two snapshots (calls, exclusive CPU, wall)."""
    rows = {}
    for name, (calls, cpu, wall) in after.items():
        c0, p0, w0 = before.get(name, (0, 0.0, 0.0))
        if calls > c0:
            rows[name] = {"calls": calls - c0, "cpu": round(cpu - p0, 2),
                          "wall": round(wall - w0, 2)}
    return dict(sorted(rows.items(), key=lambda kv: -kv[1]["cpu"])[:top])


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds of the process and of the children it reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[int, float]]:
    """Every process of the machine now → (its parent's pid, its CPU seconds, see _stat)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = _stat(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return stats


def _parents() -> dict[int, int]:
    """Every process of the machine now → its parent's pid."""
    return {pid: parent for pid, (parent, _) in _stats().items()}


def descendants(root: int) -> list[int]:
    parents = _parents()
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == pid]
        found += kids
        frontier += kids
    return found


def tree_cpu(root: int | None = None) -> float:
    """CPU seconds of every descendant of ``root`` (default: this process), living or reaped:
    a live process counts with the children it reaped; those reaped by ``root`` itself come
    from ``RUSAGE_CHILDREN``."""
    root = root or os.getpid()
    total = 0.0
    for pid in descendants(root):
        try:
            total += _stat(pid)[1]
        except (OSError, ValueError, IndexError):
            continue
    if root == os.getpid():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += usage.ru_utime + usage.ru_stime
    return total


def memory(root: int) -> tuple[float, float, int]:
    """(RSS MiB, PSS MiB, processes) of ``root`` and its descendants now. The RSS is a sum:
    a page shared by several processes (a fork server and the workers forked from it share
    most of theirs) counts once in each; the PSS sum counts it once in all."""
    rss = pss = 0.0
    pids = [root, *descendants(root)]
    for pid in pids:
        one = _rss_pss(pid)
        if one is not None:
            rss, pss = rss + one[0], pss + one[1]
    return rss, pss, len(pids)


def _rss_pss(pid: int) -> tuple[float, float] | None:
    """(RSS MiB, PSS MiB) of one process; None if it is gone."""
    rss = pss = 0.0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return rss, pss


WORKER = "extraction worker"


def roles(root: int, parents: dict[int, int] | None = None) -> dict[int, str]:
    """The processes of ``root``'s tree now, by role: ``monitor`` (``root``), ``fork server``
    and ``resource tracker`` (``multiprocessing``'s, by their command line), ``extraction
    worker`` (a child of the fork server: forked from it, so with its command line), ``other``.
    Processes only: a thread is not one."""
    parents = _parents() if parents is None else parents
    found, frontier = {root: "monitor"}, [root]
    while frontier:  # parents before their children
        parent = frontier.pop()
        for pid in (p for p, pp in parents.items() if pp == parent):
            if found[parent] == "fork server":
                found[pid] = WORKER
            else:
                try:
                    line = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                found[pid] = ("fork server" if b"multiprocessing.forkserver" in line else
                              "resource tracker" if b"multiprocessing.resource_tracker" in line
                              else "other")
            frontier.append(pid)
    return found


class TreeMemory:
    """Samples of a process tree (:func:`roles`): the peaks of its summed PSS (what the tree
    holds: a shared page counts once in all) and summed RSS (shared pages once per process:
    an upper bound), of its process count, per role, and every extraction worker pid seen.
    A process living less than the sampling interval may be missed: the child's own count of
    the workers it started (:func:`watch_workers`) is exact."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.rss = self.pss = 0.0
        self.processes = 0
        self.workers: set[int] = set()
        self.by_role: dict[str, dict[str, float]] = {}
        self.cpu: list[tuple[float, float]] = []  # (monotonic s, CPU s of the whole tree)
        self.own_cpu = 0.0  # what sampling cost this process (CPU s): the machine's, not the tree's

    def sample(self) -> None:
        begun = time.thread_time()
        now: dict[str, dict[str, float]] = {}
        rss = pss = 0.0
        stats = _stats()  # one /proc scan gives the tree and its CPU
        tree = roles(self.root, {pid: parent for pid, (parent, _) in stats.items()})
        # a reaped process counts in its parent's (children's CPU)
        self.cpu.append((time.monotonic(), sum(stats[pid][1] for pid in tree if pid in stats)))
        for pid, role in tree.items():
            one = _rss_pss(pid)
            if one is None:
                continue
            rss, pss = rss + one[0], pss + one[1]
            row = now.setdefault(role, {"processes": 0, "rss_mib_largest": 0.0, "pss_mib": 0.0})
            row["processes"] += 1
            row["rss_mib_largest"] = max(row["rss_mib_largest"], one[0])
            row["pss_mib"] += one[1]
            if role == WORKER:
                self.workers.add(pid)
        self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
        self.processes = max(self.processes, len(tree))
        for role, row in now.items():
            peak = self.by_role.setdefault(role, dict.fromkeys(row, 0.0))
            for key, value in row.items():
                peak[key] = max(peak[key], value)
        self.own_cpu += time.thread_time() - begun

    def report(self) -> dict[str, Any]:
        return {"peak_tree_rss_mib": round(self.rss, 1), "peak_tree_pss_mib": round(self.pss, 1),
                "peak_processes": self.processes,
                "peak_by_role": {role: {k: round(v, 1) if k != "processes" else int(v)
                                        for k, v in row.items()}
                                 for role, row in sorted(self.by_role.items())},
                "extraction_worker_pids_seen": len(self.workers),
                "cores_busy_by_second": self.timeline(),
                "sampling_cpu_seconds": round(self.own_cpu, 2)}

    def timeline(self) -> list[float]:
        """Cores the tree kept busy in each second since the first sample (the last, partial
        second left out): where a run waits at its start and its end."""
        out: list[float] = []
        if not self.cpu:
            return out
        t0, c0 = self.cpu[0]
        for t, c in self.cpu[1:]:
            if t - t0 >= 1.0:
                out.append(round((c - c0) / (t - t0), 2))
                t0, c0 = t, c
        return out


def watch_workers() -> Callable[[], dict[str, Any]]:
    """Count every extraction worker the pool starts in this process (``_Worker`` of
    ``monitor.extract.worker``, wrapped); the returned function reports how many, and how many
    are alive. Missing seam: listed in ``TIMERS.missing``, reported as None."""
    try:
        worker: Any = importlib.import_module("monitor.extract.worker")
        start = worker._Worker.__init__
    except (ImportError, AttributeError):
        TIMERS.missing.append("monitor.extract.worker._Worker")
        return lambda: {"started": None, "alive_at_end": None}
    started: list[int] = []

    @functools.wraps(start)
    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        started.append(self.process.pid)

    worker._Worker.__init__ = counted
    return lambda: {"started": len(started), "alive_at_end": len(worker.worker_pids())}


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def report(timers: Timers, run_cpu: float, children_cpu: float) -> dict[str, Any]:
    """Rows and stage totals as shares of all CPU used (this process + its children)."""
    total = run_cpu + children_cpu
    rows = {name: dict(r, cpu=round(r["cpu"], 3), wall=round(r["wall"], 3))
            for name, r in sorted(timers.rows.items(), key=lambda kv: -kv[1]["cpu"])
            if r["calls"]}
    stages = dict.fromkeys(STAGES, 0.0)
    for r in timers.rows.values():
        stages[r["stage"]] += r["cpu"]
    stages["extraction"] += children_cpu
    stages["other"] += max(0.0, run_cpu - sum(r["cpu"] for r in timers.rows.values()))
    return {
        "cpu_seconds_total": round(total, 2),
        "cpu_seconds_in_process": round(run_cpu, 2),
        "cpu_seconds_child_processes": round(children_cpu, 2),
        "stage_cpu_seconds": {k: round(v, 2) for k, v in stages.items()},
        "stage_cpu_share": {k: round(v / total, 3) if total else 0.0 for k, v in stages.items()},
        "functions": rows,
        "missing_seams": timers.missing,
    }
