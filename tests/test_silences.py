"""Silences: ingest holds (and records) the alerts they match while active, and `monitor
silence add|list|expire` on a real config and database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from monitor.pipeline import Context
from tests.test_ingest_stories import SEEDS, T0, ctx, due, put
from tests.test_pipeline_e2e import monitor, write_config

__all__ = ["ctx"]  # the fixture, imported for these tests

RULE = "militia-linked-base-attack"  # matched by seed 002 (high), not by seed 001
HOOK = "http://127.0.0.1:9/hook"


def silenced(ctx: Context) -> list[tuple[int, int, str, str]]:
    rows = ctx.store.db.execute("SELECT silence_id, story_id, target, kind FROM silenced"
                                " ORDER BY id")
    return [tuple(r) for r in rows.fetchall()]


def test_a_rule_silence_holds_its_alerts_records_them_and_lets_others_through(
        ctx: Context) -> None:
    s = ctx.store.add_silence(rules=[RULE], targets=[], tags=[], reason="known event",
                              now=T0, ends_at=T0 + timedelta(days=60))
    held = put(ctx, "asharq", SEEDS["002"], T0, T0)
    assert held.decision == "new" and held.alerts == 0 and due(ctx) == []
    assert silenced(ctx) == [(s.id, held.story_id, "console", "new")]
    (entry,) = ctx.store.story_entries(held.story_id or 0)
    assert f"silenced by {s.id} (console)" in entry.reason

    later = T0 + timedelta(days=40)  # another story, past the story window
    other = put(ctx, "shafaq", SEEDS["001"], later, later)
    assert other.story_id != held.story_id and other.alerts == 1
    assert [k for k, _, _ in due(ctx)] == ["new"]
    (listed,) = ctx.store.list_silences(later)
    assert listed.id == s.id and listed.held == 1


def test_after_its_end_alerts_are_queued_again(ctx: Context) -> None:
    ctx.store.add_silence(rules=[RULE], targets=[], tags=[], reason="r", now=T0,
                          ends_at=T0 + timedelta(hours=1))
    after = T0 + timedelta(hours=2)
    assert ctx.store.active_silences(after) == []
    out = put(ctx, "asharq", SEEDS["002"], after, after)
    assert out.alerts == 1 and silenced(ctx) == []
    assert ctx.store.list_silences(after) == []
    assert len(ctx.store.list_silences(after, include_ended=True)) == 1


def test_an_expired_silence_holds_nothing(ctx: Context) -> None:
    s = ctx.store.add_silence(rules=[RULE], targets=[], tags=[], reason="r", now=T0,
                              ends_at=T0 + timedelta(days=1))
    assert ctx.store.expire_silence(s.id, T0 + timedelta(minutes=1)) is not None
    assert ctx.store.expire_silence(999, T0) is None
    now = T0 + timedelta(minutes=2)
    assert put(ctx, "asharq", SEEDS["002"], now, now).alerts == 1


def test_a_target_scoped_silence_holds_that_target_only(ctx: Context) -> None:
    ctx.targets = {"console": ctx.targets["console"], "pager": ctx.targets["console"]}
    s = ctx.store.add_silence(rules=[], targets=["pager"], tags=["base"], reason="r", now=T0,
                              ends_at=T0 + timedelta(hours=1))
    out = put(ctx, "asharq", SEEDS["002"], T0, T0)
    assert out.alerts == 1
    targets = [r[0] for r in ctx.store.db.execute("SELECT target FROM alerts").fetchall()]
    assert targets == ["console"]
    assert silenced(ctx) == [(s.id, out.story_id, "pager", "new")]


def test_a_critical_alert_is_held_only_when_its_rule_is_named(ctx: Context) -> None:
    ctx.store.add_silence(rules=[], targets=[], tags=["casualties"], reason="r", now=T0,
                          ends_at=T0 + timedelta(days=60))
    crit = put(ctx, "national", SEEDS["000"], T0, T0)
    assert crit.alerts == 1 and silenced(ctx) == []
    named = ctx.store.add_silence(rules=["us-personnel-casualties"], targets=[], tags=[],
                                  reason="r", now=T0, ends_at=T0 + timedelta(days=60))
    later = T0 + timedelta(days=30)
    other = put(ctx, "fassel", SEEDS["004"], later, later)
    assert other.story_id != crit.story_id and other.alerts == 0
    assert [r[0] for r in silenced(ctx)] == [named.id]


def test_cli_add_list_expire_round_trip(tmp_path: Path) -> None:
    config = str(write_config(tmp_path, "http://127.0.0.1:9"))
    added = monitor("silence", "add", "--rule", RULE, "--target", "slack", "--for", "2h",
                    "--reason", "known event", "-c", config, hook=HOOK)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("silence 1 until ")
    listed = monitor("silence", "list", "--json", "-c", config, hook=HOOK)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["id"] == 1 and row["rules"] == [RULE] and row["targets"] == ["slack"]
    assert row["active"] and row["held"] == 0 and row["reason"] == "known event"
    table = monitor("silence", "list", "-c", config, hook=HOOK).stdout
    assert table.startswith("1\tactive until ") and "held 0" in table

    expired = monitor("silence", "expire", "1", "-c", config, hook=HOOK)
    assert expired.returncode == 0 and "expired" in expired.stdout
    assert monitor("silence", "list", "-c", config, hook=HOOK).stdout.strip() == "no silences"
    (ended,) = json.loads(monitor("silence", "list", "--all", "--json", "-c", config,
                                  hook=HOOK).stdout)
    assert not ended["active"] and ended["expired_at"]

    unknown = monitor("silence", "expire", "7", "-c", config, hook=HOOK)
    assert unknown.returncode == 1 and "no silence 7" in unknown.stderr
    bad = monitor("silence", "add", "--rule", RULE, "--for", "soon", "--reason", "x",
                  "-c", config, hook=HOOK)
    assert bad.returncode == 2 and "soon" in bad.stderr
    none = monitor("silence", "add", "--for", "1h", "--reason", "x", "-c", config, hook=HOOK)
    assert none.returncode == 2
