"""ingest(): near-duplicates, stories and the alert policy, on a real SQLite file with the
shipped rules (no network: the articles are given, as `monitor replay` gives them)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.dedup import near, stories
from monitor.dedup.policy import plan, story_decision
from monitor.ingest import Outcome, ingest, revise
from monitor.match import load_rules
from monitor.model import Article, Entry, Feed
from monitor.net import GuardedClient
from monitor.pipeline import Context
from monitor.store import Store
from tests.conftest import DATA, ROOT

SEEDS = {p.stem[:3]: p.read_text(encoding="utf-8") for p in (DATA / "seeds").glob("*.txt")}
RULES = load_rules(ROOT / "rules")
KINDS = stories.entity_kinds(RULES.entities)
T0 = datetime(2024, 8, 6, 10, 0, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    path = tmp_path / "monitor.toml"
    path.write_text('[targets.console]\ntype = "console"\n'
                    '[stories]\ngroup_wait = "1m"\nupdate_interval = "30m"\nmax_age = "3d"\n',
                    encoding="utf-8")
    config = load_config(path, env={})
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([])
    return Context(config=config, store=store, client=GuardedClient(), ruleset=RULES,
                   targets={"console": object()}, rng=random.Random(1),
                   group_wait=timedelta(minutes=1))


def feed_row(ctx: Context, name: str) -> None:
    ctx.store.db.execute("INSERT OR IGNORE INTO feeds (name, url) VALUES (?, ?)",
                         [name, f"https://{name}.example/feed"])


def put(ctx: Context, outlet: str, text: str, published: datetime, now: datetime,
        title: str = "", url: str | None = None) -> Outcome:
    feed_row(ctx, outlet)
    link = url or f"https://{outlet}.example/{abs(hash((text, title))) % 10**8}"
    entry = Entry(feed=outlet, guid=link, link=link, title=title, summary="",
                  published=published)
    article = Article(entry=entry, url=link, title=title, text=text, published=published,
                      site=outlet, source="page")
    outcome = ingest(ctx, Feed(name=outlet, url=link, interval=3600), entry, link, article,
                     RULES, now, kinds=KINDS, group_wait=ctx.group_wait)
    assert outcome is not None
    return outcome


def due(ctx: Context) -> list[tuple[str, str, str]]:
    rows = ctx.store.db.execute("SELECT kind, state, next_attempt_at FROM alerts ORDER BY id")
    return [tuple(r) for r in rows.fetchall()]


def test_three_reports_of_one_attack_make_one_story_and_one_alert(ctx: Context) -> None:
    a = put(ctx, "national", SEEDS["000"], T0, T0)
    b = put(ctx, "fassel", SEEDS["003"], T0 + timedelta(hours=30), T0 + timedelta(hours=30))
    c = put(ctx, "shafaq", SEEDS["001"], T0 + timedelta(hours=34), T0 + timedelta(hours=34))
    assert a.decision == "new" and a.opened
    assert b.story_id == c.story_id == a.story_id
    assert "joined story" in b.reason and "joined story" in c.reason
    assert [k for k, _, _ in due(ctx)] == ["new"], "not yet sent: the one alert is refreshed"
    (alert,) = [d.alert for d in ctx.store.claim_due(T0 + timedelta(days=2),
                                                     T0 + timedelta(days=3))]
    assert set(alert.sources) == {"national", "fassel", "shafaq"} and len(alert.articles) == 3
    other = put(ctx, "asharq", SEEDS["002"], datetime(2019, 12, 7, tzinfo=UTC),
                datetime(2019, 12, 7, 8, tzinfo=UTC))
    assert other.story_id != a.story_id and other.decision == "new"


def test_reports_within_the_group_wait_refresh_the_pending_alert(ctx: Context) -> None:
    first = put(ctx, "national", SEEDS["000"], T0, T0)
    second = put(ctx, "shafaq", SEEDS["001"], T0, T0 + timedelta(seconds=20))
    assert second.story_id == first.story_id and second.decision == "update"
    assert second.alerts == 0, "joined the pending alert instead of queueing one"
    (alert,) = [d.alert for d in ctx.store.claim_due(T0 + timedelta(minutes=2),
                                                     T0 + timedelta(minutes=7))]
    assert alert.kind == "new" and set(alert.sources) == {"national", "shafaq"}
    assert len(alert.articles) == 2


def test_updates_are_paced_by_the_update_interval(ctx: Context) -> None:
    put(ctx, "national", SEEDS["000"], T0, T0)
    ctx.store.db.execute("UPDATE alerts SET state = 'sent', sent_at = next_attempt_at")
    put(ctx, "shafaq", SEEDS["001"], T0, T0 + timedelta(minutes=5))
    put(ctx, "fassel", SEEDS["003"], T0, T0 + timedelta(minutes=6))  # refreshes that update
    rows = due(ctx)
    assert [k for k, _, _ in rows] == ["new", "update"]
    first_sent = datetime.fromisoformat(rows[0][2])
    assert datetime.fromisoformat(rows[1][2]) == first_sent + timedelta(minutes=30)


def test_a_severity_rise_alerts_at_once(ctx: Context) -> None:
    high = put(ctx, "shafaq", SEEDS["001"], T0, T0)  # no casualties reported: high
    assert ctx.store.story_view(high.story_id or 0) is not None
    ctx.store.db.execute("UPDATE alerts SET state = 'sent', sent_at = next_attempt_at")
    later = T0 + timedelta(minutes=10)
    rise = put(ctx, "national", SEEDS["000"], T0, later)  # five US service members wounded
    assert rise.story_id == high.story_id and rise.decision == "escalation"
    kind, state, when = due(ctx)[-1]
    assert (kind, state) == ("escalation", "pending")
    assert datetime.fromisoformat(when) == later


def test_a_stale_article_is_stored_and_matched_but_does_not_alert(ctx: Context) -> None:
    old = put(ctx, "asharq", SEEDS["002"], datetime(2019, 12, 7, tzinfo=UTC), T0)
    assert old.decision == "stale" and old.alerts == 0 and old.story_id is not None
    assert old.reason.startswith("stale: published")
    assert due(ctx) == []


def test_a_syndicated_copy_is_a_duplicate_and_an_edit_does_not_realert(ctx: Context) -> None:
    first = put(ctx, "national", SEEDS["000"], T0, T0, url="https://national.example/a")
    copy = put(ctx, "wire", SEEDS["000"], T0, T0 + timedelta(minutes=1),
               url="https://wire.example/b")
    assert copy.decision == "duplicate" and copy.story_id == first.story_id
    words = SEEDS["000"].split()
    edited = " ".join(w.upper() if i % 40 == 0 else w for i, w in enumerate(words))
    edit = put(ctx, "national", edited + " Updated with a statement.", T0,
               T0 + timedelta(hours=2), url="https://national.example/a-v2")
    assert edit.decision == "duplicate" and edit.alerts == 0
    assert [k for k, _, _ in due(ctx)] == ["new"]


def test_policy_table() -> None:
    now = T0
    assert story_decision(opened=True, stale=False, duplicate=False, severity="high",
                          alerted=None) == "new"
    assert story_decision(opened=False, stale=False, duplicate=False, severity="high",
                          alerted=None) == "new", "a story opened stale alerts on fresh news"
    assert story_decision(opened=False, stale=False, duplicate=False, severity="critical",
                          alerted="high") == "escalation"
    assert story_decision(opened=False, stale=True, duplicate=False, severity="critical",
                          alerted="high") == "stale"
    wait, every = timedelta(minutes=1), timedelta(minutes=30)
    assert plan("new", now=now, pending=False, previous=[], group_wait=wait,
                update_interval=every).not_before == now + wait
    assert plan("update", now=now, pending=True, previous=[now], group_wait=wait,
                update_interval=every).action == "refresh"
    assert plan("escalation", now=now, pending=True, previous=[now], group_wait=wait,
                update_interval=every).not_before == now
    assert plan("update", now=now, pending=False, previous=[now - timedelta(hours=2)],
                group_wait=wait, update_interval=every).not_before == now
    assert plan("stale", now=now, pending=False, previous=[], group_wait=wait,
                update_interval=every).action == "none"


def revise_with(ctx: Context, first: Outcome, outlet: str, text: str, title: str,
                now: datetime) -> Outcome:
    from monitor.ingest import revise

    link = ctx.store.db.execute("SELECT link FROM entries WHERE id = ?",
                                [first.entry_id]).fetchone()[0]
    entry = Entry(feed=outlet, guid=link, link=link, title=title, summary="edited",
                  published=T0)
    article = Article(entry=entry, url=link, title=title, text=text, published=T0,
                      site=outlet, source="page")
    return revise(ctx, Feed(name=outlet, url=link, interval=3600), first.entry_id, entry,
                  article, RULES, now, kinds=KINDS, group_wait=ctx.group_wait)


def test_an_edit_that_reports_casualties_escalates_once(ctx: Context) -> None:
    first = put(ctx, "wire", SEEDS["001"], T0, T0, title="Rocket attack on Ain al-Asad")
    ctx.store.db.execute("UPDATE alerts SET state = 'sent', sent_at = next_attempt_at")
    later = T0 + timedelta(minutes=40)
    edit = revise_with(ctx, first, "wire", SEEDS["000"], "Rocket attack wounds US troops", later)
    assert edit.decision == "escalation" and edit.story_id == first.story_id
    assert [k for k, _, _ in due(ctx)] == ["new", "escalation"]
    again = revise_with(ctx, first, "wire", SEEDS["000"] + " More.", "Update 2",
                        later + timedelta(minutes=5))
    assert again.decision == "edit" and again.alerts == 0
    text = ctx.store.db.execute("SELECT text FROM articles WHERE entry_id = ?",
                                [first.entry_id]).fetchone()[0]
    assert text.endswith(" More."), "the stored article is the edited one"


def test_a_cosmetic_edit_does_not_realert(ctx: Context) -> None:
    first = put(ctx, "wire", SEEDS["000"], T0, T0, title="Rockets hit Ain Al Asad")
    edit = revise_with(ctx, first, "wire", SEEDS["000"], "Rockets hit Ain al-Asad (corrected)",
                       T0 + timedelta(hours=1))
    assert edit.decision == "edit" and edit.alerts == 0
    assert [k for k, _, _ in due(ctx)] == ["new"]


def test_find_seen_tells_an_edited_entry(ctx: Context) -> None:
    first = put(ctx, "wire", SEEDS["000"], T0, T0, title="Original")
    link = ctx.store.db.execute("SELECT link FROM entries WHERE id = ?",
                                [first.entry_id]).fetchone()[0]
    same = Entry(feed="wire", guid=link, link=link, title="Original", summary="",
                 published=T0)
    seen = ctx.store.find_seen("wire", link, link, same)
    assert seen is not None and seen.same_guid and not seen.edited
    changed = ctx.store.find_seen("wire", link, link, Entry(**{**same.__dict__,
                                                               "title": "Now different"}))
    assert changed is not None and changed.edited


def test_an_escalation_within_the_group_wait_raises_the_first_alert(ctx: Context) -> None:
    put(ctx, "shafaq", SEEDS["001"], T0, T0)  # high; its alert waits a minute
    rise = put(ctx, "national", SEEDS["000"], T0, T0 + timedelta(seconds=20))  # critical
    assert rise.alerts == 0, "no separate escalation before the first alert"
    (alert,) = [d.alert for d in ctx.store.claim_due(T0 + timedelta(minutes=2),
                                                     T0 + timedelta(minutes=7))]
    assert alert.kind == "new" and alert.severity == "critical" and len(alert.articles) == 2


def test_a_stale_report_does_not_raise_its_story(ctx: Context) -> None:
    first = put(ctx, "shafaq", SEEDS["001"], T0, T0)  # high
    ctx.store.db.execute("UPDATE alerts SET state = 'sent', sent_at = next_attempt_at")
    late = put(ctx, "national", SEEDS["000"], T0, T0 + timedelta(days=3, hours=2))
    assert late.decision == "stale" and late.story_id == first.story_id
    view = ctx.store.story_view(first.story_id or 0)
    assert view is not None and view.severity == "high"
    fresh = put(ctx, "fassel", SEEDS["001"] + " A follow-up.", T0 + timedelta(days=3),
                T0 + timedelta(days=3, hours=3), title="Follow-up on the Ain al-Asad attack")
    assert fresh.decision in ("update", "duplicate"), fresh


def test_a_copy_from_another_feed_never_counts_as_edited(ctx: Context) -> None:
    first = put(ctx, "national", SEEDS["000"], T0, T0, url="https://national.example/a")
    feed_row(ctx, "aggregator")
    copy = Entry(feed="aggregator", guid="agg-1", link="https://national.example/a",
                 title="Copy", summary="", published=T0)
    with ctx.store.transaction():
        ctx.store.add_entry(copy, "https://national.example/a", T0, duplicate_of=first.entry_id)
    retitled = Entry(**{**copy.__dict__, "title": "Copy, retitled"})
    seen = ctx.store.find_seen("aggregator", "agg-1", "https://national.example/a", retitled)
    assert seen is not None and seen.same_guid and not seen.edited


WIRE = ("Three rockets struck the sprawling facility in the western desert early on Tuesday, two "
        "security officials said, speaking on condition of anonymity because they were not "
        "authorised to brief the media. No casualties were reported and the damage was being "
        "assessed. The facility has been targeted repeatedly over the past months, and officials "
        "have blamed armed groups for the previous incidents. A spokesman for the provincial "
        "government said an investigation had been opened and that security forces had been "
        "deployed around the area to search for the launch site.")
HEADLINE = "Rockets hit Ain al-Asad air base hosting US troops"


def bands_of(ctx: Context, entry_id: int) -> int:
    return int(ctx.store.db.execute("SELECT count(*) FROM fingerprint_bands WHERE entry_id = ?",
                                    [entry_id]).fetchone()[0])


def test_a_matching_copy_of_an_article_that_matched_nothing_makes_its_own_story(
        ctx: Context) -> None:
    """The same wire text under a vague headline, then under one that names the base: the
    second alerts. It used to be taken for a near-duplicate of the first, which has no story,
    and was dropped without an alert."""
    vague = put(ctx, "wire", WIRE, T0, T0, title="Security update from Anbar")
    assert vague.decision == "no-match"
    assert ctx.store.get_fingerprint(vague.entry_id) is None
    assert bands_of(ctx, vague.entry_id) == 0
    named = put(ctx, "outlet", WIRE, T0, T0 + timedelta(minutes=5), title=HEADLINE)
    assert named.decision == "new" and named.story_id is not None, named
    assert [k for k, _, _ in due(ctx)] == ["new"]
    assert ctx.store.get_fingerprint(named.entry_id) is not None
    assert bands_of(ctx, named.entry_id) == near.BANDS
    copy = put(ctx, "third", WIRE, T0, T0 + timedelta(minutes=9), title=HEADLINE + " (AP)")
    assert copy.decision == "duplicate" and copy.story_id == named.story_id
    assert "near-duplicate of entry" in copy.reason


def test_an_old_fingerprint_of_an_article_that_matched_nothing_is_passed_over(
        ctx: Context) -> None:
    """A database written before fingerprints were kept for matching articles only still holds
    those of the others: a matching copy of one is not its duplicate."""
    vague = put(ctx, "wire", WIRE, T0, T0, title="Security update from Anbar")
    with ctx.store.transaction():
        ctx.store.add_fingerprint(vague.entry_id, near.fingerprint(WIRE))
    named = put(ctx, "outlet", WIRE, T0, T0 + timedelta(minutes=5), title=HEADLINE)
    assert named.decision == "new", named


def test_an_edit_that_no_longer_matches_drops_its_fingerprint(ctx: Context) -> None:
    first = put(ctx, "wire", WIRE, T0, T0, title=HEADLINE, url="https://wire.example/a")
    assert first.decision == "new" and bands_of(ctx, first.entry_id) == near.BANDS
    link = "https://wire.example/a"
    entry = Entry(feed="wire", guid=link, link=link, title="Security update from Anbar",
                  summary="", published=T0)
    article = Article(entry=entry, url=link, title=entry.title, text=WIRE, published=T0,
                      site="wire", source="page")
    edit = revise(ctx, Feed(name="wire", url=link, interval=3600), first.entry_id, entry,
                  article, RULES, T0 + timedelta(hours=1), kinds=KINDS,
                  group_wait=ctx.group_wait)
    assert edit.decision == "edit"
    assert ctx.store.get_fingerprint(first.entry_id) is None
    assert bands_of(ctx, first.entry_id) == 0
    again = put(ctx, "outlet", WIRE, T0, T0 + timedelta(hours=2), title=HEADLINE)
    assert again.decision != "duplicate", again


def test_old_news_told_anew_opens_its_story_without_an_alert(ctx: Context) -> None:
    # fresh (published now), but the event it tells is a month old: stored, no alert
    now = datetime(2024, 2, 28, 15, 0, tzinfo=UTC)
    told = put(ctx, "stripes", "One month after a one-way attack drone slammed into the living "
               "quarters at Tower 22 in northeast Jordan on January 28, killing three Army "
               "soldiers, the Pentagon is still investigating how the drone got through.",
               now, now, title="Questions remain over how drone got through at Tower 22")
    assert told.opened and told.decision == "stale"
    assert told.reason.startswith("stale: its event day is 31 days before it was written")
    assert due(ctx) == []
    # a fresh report of a new attack on the same base the next day alerts as new
    fresh = put(ctx, "ap", "A drone struck Tower 22 in Jordan on Thursday, US officials said, "
                "wounding two US soldiers.", now + timedelta(days=1), now + timedelta(days=1),
                title="Drone hits Tower 22 outpost in Jordan, wounding two US soldiers")
    assert fresh.decision == "new"
    assert [k for k, _, _ in due(ctx)] == ["new"]


def test_a_weekday_never_makes_a_fresh_report_old_news(ctx: Context) -> None:
    # "on Friday" in a Thursday piece reads as six days ago: within a week, it is not old news
    thu = datetime(2024, 8, 8, 12, 0, tzinfo=UTC)
    fresh = put(ctx, "ap", "Rockets struck Ain al-Asad air base on Friday, US officials said.",
                thu, thu, title="Rockets hit Ain al-Asad air base")
    assert fresh.opened and fresh.decision == "new"
