"""The Markdown table of the latest ``make bench``, from ``bench/results/*.json``.

A part whose results are missing (it failed, or was skipped) shows "n/a"; nothing is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _load(results: Path, name: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((results / name).read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return {}


def _get(data: Any, *keys: Any, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def _n(value: Any, fmt: str = "{:,}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _took(summary: dict[str, Any], part: str) -> str:
    run = _get(summary, "parts", part) or {}
    if not run:
        return "not run"
    note = "" if run.get("status") == "ok" else f" ({run.get('status')})"
    if run.get("not_written"):
        note += f"; {', '.join(run['not_written'])} not written: older results shown"
    others = run.get("others_share")
    busy = f"; others {others:.0%}" if others is not None and others >= 0.02 else ""
    probes = run.get("host_probe_ms")
    host = f"; probe {probes[0]} / {probes[1]} ms" if probes else ""
    return f"{run.get('seconds')} s / {run.get('budget_seconds')} s{note}{busy}{host}"


def render_table(results: Path, summary: dict[str, Any]) -> str:
    m = summary.get("machine", {})
    libs = ", ".join(f"{k} {v}" for k, v in (m.get("libraries") or {}).items() if v)
    peers = ", ".join(f"{k} {v.get('version')}" for k, v in (m.get("peers") or {}).items()
                      if v.get("version"))
    changed = m.get("monitor_uncommitted") or []
    dirty = f" + uncommitted changes to {', '.join(changed)}" if changed else ""
    head = (f"Latest `make bench`: {summary.get('date')}, {summary.get('seconds_total')} s in "
            f"all, on {m.get('cpu', '?')} ({m.get('cores')} cores, {m.get('memory_gib')} GiB, "
            f"Linux {m.get('kernel')}), Python {m.get('python')}, SQLite {m.get('sqlite')}, "
            f"commit {m.get('commit', '?')}{dirty}; "
            f"{libs}; peers: {peers or 'none'}. Every answer of the feed farm is delayed "
            "150 ms. Numbers are reported, never asserted; the *issue 8* column is the target "
            "the issue sets; \"others\" is the share of the machine's CPU that other "
            "processes used during a part (shown from 2 %); \"probe\" is the host probe before / "
            "after a part: ms for a fixed piece of Python work in `run_all.py`, higher when "
            "the host is slower (this VM's other tenants do not show in its CPU counters)."
            "\n\n")
    rows = ["| part | measured | result | issue 8 | took / budget |", "|---|---|---|---|---|"]

    e2e = _load(results, "e2e.json")
    end = e2e.get("end_to_end", {})
    pool = _get(e2e, "ceiling", "pool") or {}
    one = _get(e2e, "ceiling", "one_process") or {}
    rounds = e2e.get("rounds") or []
    best = (f"; fastest of {len(rounds)} rounds (checks: "
            f"{', '.join(_n(r.get('check_articles_per_s')) for r in rounds)} articles/s; "
            f"ceilings: {', '.join(_n(r.get('ceiling_pages_per_s')) for r in rounds)} pages/s)"
            if len(rounds) > 1 else "")
    rows.append(
        f"| end to end | `monitor check` (project defaults) over {_n(e2e.get('articles'))} "
        f"articles in {_n(e2e.get('feeds'))} feeds on {_n(e2e.get('outlets'))} hosts, all "
        f"new{best} "
        f"| {'FAILED: ' + end['error'][:160] + '; ' if end.get('error') else ''}"
        f"**{_n(end.get('articles_per_s'))} articles/s** ({_n(end.get('seconds'))} s, "
        f"{_n(end.get('cores_busy'))} cores busy on average); peak "
        f"RSS {_n(end.get('monitor_peak_rss_mib'))} MiB (monitor process); its process "
        f"tree (fork server, {_n(_get(end, 'extraction_workers', 'started'))} extraction "
        f"workers started, {_n(end.get('peak_processes'))} processes at most): PSS "
        f"{_n(end.get('peak_tree_pss_mib'))} MiB (RSS summed "
        f"{_n(end.get('peak_tree_rss_mib'))} MiB) | | {_took(summary, 'e2e')} |")
    full = _get(e2e, "reference_full_metadata", "pool") or {}
    reference = (
        f"; trafilatura with all its metadata (author, categories, tags…: what the pipeline "
        f"ran before): {_n(full.get('pages_per_s'))} pages/s "
        f"({_n(full.get('cpu_ms_per_page_mean'))} ms CPU/page), pipeline = "
        f"{_pct(e2e.get('ratio_pipeline_to_full_metadata'))} of that" if full else "")
    rows.append(
        f"| extraction ceiling | trafilatura alone on the same pages, as the pipeline calls it "
        f"(text, title, site name), pool of "
        f"{_n(_get(e2e, 'ceiling', 'processes'))} processes | {_n(pool.get('pages_per_s'))} "
        f"pages/s ({_n(pool.get('cpu_ms_per_page_mean'))} ms CPU/page; one process "
        f"{_n(one.get('pages_per_s'))} pages/s); **pipeline = "
        f"{_pct(e2e.get('ratio_pipeline_to_ceiling'))} of it**{reference} | ≥ 85 % "
        f"| (in e2e) |")
    shares = end.get("stage_cpu_share") or {}
    seconds = end.get("stage_cpu_seconds") or {}
    text = ", ".join(  # every stage, the small ones too (delivery is one the issue names)
        f"{k} {v:.0%}" if v >= 0.005 else f"{k} <1% ({_n(seconds.get(k))} s)"
        for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
    total = _n(end.get("cpu_seconds_total"))
    rows.append(f"| CPU by stage | share of all CPU of that check ({total} s: process + "
                f"children) | {text or 'n/a'} | | (in e2e) |")
    ing = _load(results, "ingest.json")
    steps = ", ".join(f"{k} {v}" for k, v in (ing.get("ms_per_article") or {}).items())
    rows.append(f"| ingest steps | the monitor's own work per article, one thread, no network "
                f"or extraction: {_n(ing.get('articles'))} corpus articles of "
                f"{_n(ing.get('words_per_article'))} words (the fingerprint steps: matching "
                f"ones only, averaged over all) | "
                f"**{_n(ing.get('ms_per_article_total'))} ms per article**: {steps or 'n/a'} "
                f"(ms) | | {_took(summary, 'ingest')} |")

    poll = _load(results, "polling.json")
    ours = _get(poll, "ours", "pass2") or {}
    def cell(r: dict[str, Any], half: bool = True) -> str:
        if r.get("error"):
            return f"failed after {r.get('seconds')} s ({r['error'][:100]})"
        answered = r.get("answers") or {}
        odd = ""
        if half and r.get("feeds") and answered.get("304", 0) < 0.4 * r["feeds"]:
            odd = f", only {answered.get('304', 0):,} answered 304"
        return f"{_n(r.get('feeds_per_s'))} feeds/s ({_n(r.get('seconds'))} s{odd})"

    cells = " / ".join(cell(r) for _, r in sorted(ours.items(), key=lambda kv: int(kv[0])))
    first = _get(poll, "ours", "pass1_no_delay") or {}
    conc = _get(poll, "ours", "polling_config", "concurrency")
    rows.append(
        f"| polling | a pass over {' / '.join(f'{int(k):,}' for k in sorted(ours, key=int))} "
        f"feeds × {_n(poll.get('entries_per_feed'))} seen entries, half 304 (concurrency "
        f"{_n(conc)}) | **{cells or 'n/a'}**; the pass before, all new, no delay: "
        f"{cell(first, half=False) if first else 'n/a'} | | {_took(summary, 'polling')} |")
    others = _load(results, "peers.json")
    cells = []
    for name in ("rss2email", "feed2exec"):
        p = others.get(name) or {}
        p2 = p.get("pass2") or {}
        if not p.get("installed"):
            cells.append(f"{name}: {p.get('error', 'not run')[:80]}")
            continue
        cut = "" if p2.get("completed") else f", {p2.get('feeds_done')} done in the budget"
        cells.append(f"{name} {_n(p2.get('feeds_per_s'))} feeds/s "
                     f"({_n(p2.get('projected_seconds_all_feeds'))} s for all{cut}; CPU "
                     f"{_n(p2.get('cpu_seconds'))} s); "
                     f"ours ÷ {name} time **{_n(others.get(f'time_ours_over_{name}'))}**")
    rows.append(f"| peers | the same {_n(others.get('feeds'))} feeds, same farm, a pass "
                f"after one that marked all seen, half 304 (the two peers side by side) | "
                f"{'; '.join(cells) or 'n/a'} | "
                "ours < 0.1 × rss2email | (in polling) |")

    match = _load(results, "match.json")
    scales = match.get("scales") or {}
    mb = " / ".join(_n(_get(scales, s, "match", "mb_per_s")) for s in ("100", "1000", "10000"))
    rx = " / ".join(_n(_get(scales, s, "regex", "mb_per_s")) for s in ("100", "1000", "10000"))
    ratio = _get(match, "ratios", "regex_vs_match_at_10000")
    scan = _get(match, "ratios", "regex_vs_scan_at_10000")
    rows.append(f"| matching | 100 / 1,000 / 10,000 aliases, {match.get('corpus', '')} | "
                f"`match()` {mb} MB/s; regex alternation {rx} MB/s; **ours ÷ regex at 10,000: "
                f"{_n(ratio)}×** (automaton scan alone: {_n(scan)}×) | ≥ 300× | "
                f"{_took(summary, 'match')} |")

    dedup = _load(results, "dedup.json")
    ds = dedup.get("scales") or {}
    sizes = sorted(ds, key=int)
    look = " / ".join(_n(_get(ds, s, "lookup", "median_us"), "{:,.0f}") for s in sizes)
    near = " / ".join(_n(_get(ds, s, "find_near", "median_us"), "{:,.0f}") for s in sizes)
    rows.append(
        f"| dedup | near-duplicate lookup with {' / '.join(f'{int(s):,}' for s in sizes)} "
        f"fingerprinted articles of history (matching articles: only they are fingerprinted) "
        f"| median {look} µs (find_near alone {near} µs); **1M ÷ 10k: "
        f"{_n(dedup.get('lookup_median_ratio_largest_to_smallest'))}** (find_near "
        f"{_n(dedup.get('find_near_median_ratio_largest_to_smallest'))}); **RSS at 1M: "
        f"{_n(_get(ds, sizes[-1] if sizes else '', 'peak_rss_mib'))} MiB** | ≤ 2×; < 300 MB "
        f"| {_took(summary, 'dedup')} |")
    st = _load(results, "stories.json").get("scales") or {}
    cells = " / ".join(_n(_get(st, s, "per_article_us_median"), "{:,.0f}")
                       for s in sorted(st, key=int))
    history = " / ".join(f"{int(s):,}" for s in sorted(st, key=int))
    rows.append(f"| story decision | per matched article, {history} articles of history | "
                f"median {cells or 'n/a'} µs | | "
                f"{_took(summary, 'stories')} |")

    ch = _load(results, "cheap.json")
    runs, saved, rc = ch.get("runs") or {}, ch.get("saved") or {}, ch.get("recall") or {}
    al, wc = runs.get("always") or {}, runs.get("when_candidate") or {}
    rows.append(
        f"| cheap path | `full_text = \"when_candidate\"` on every feed against `\"always\"`, "
        f"{_n(ch.get('articles'))} articles (summaries: 40 words, 1 sentence or none) | "
        f"{_n(wc.get('articles_per_s'))} against {_n(al.get('articles_per_s'))} articles/s "
        f"(**{_n(saved.get('speedup'))}×**); pages fetched {_n(wc.get('pages_fetched'))} of "
        f"{_n(al.get('pages_fetched'))} (**{_pct(saved.get('pages_share'))} saved**), CPU "
        f"{_pct(saved.get('cpu_share'))} saved; recall **{_pct(rc.get('article_recall'))} of "
        f"matched articles** ({_n(rc.get('articles_also_matched'))}/"
        f"{_n(rc.get('articles_matched'))}), **{_pct(rc.get('story_recall'))} of alerted "
        f"stories** ({_n(rc.get('stories_also_alerted'))}/{_n(rc.get('stories_alerted'))}) | "
        f"| {_took(summary, 'cheap')} |")

    lat = _load(results, "latency.json")
    ls = lat.get("latency_seconds") or {}
    rows.append(
        f"| latency | `monitor run`: entry published → alert at the webhook, poll forced "
        f"(`feeds retry`), group_wait 0 | **p50 {_n(ls.get('p50'))} s, p95 {_n(ls.get('p95'))}"
        f" s** ({_n(lat.get('alerts_received'))}/{_n(lat.get('entries'))} alerts; published → "
        f"page fetched p50 {_n(_get(lat, 'published_to_page_fetched_seconds', 'p50'))} s); "
        f"without forcing add the wait for the next poll, U(0, interval ≥ 60 s) | | "
        f"{_took(summary, 'latency')} |")
    return head + "\n".join(rows) + "\n"
