"""Digest targets and quiet hours: when the relay sends, and what a digest looks like in every
sink. Fake clock, real SQLite (the outbox), real renderers."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config import DeliveryConfig
from monitor.deliver import schedule
from monitor.deliver.console import render_console
from monitor.deliver.digest import build_digest
from monitor.deliver.mail_render import html_body, plain_body, subject
from monitor.deliver.outbox import deliver
from monitor.deliver.slack_render import HEADER_LIMIT, MAX_BLOCKS, SECTION_LIMIT, render_slack
from monitor.deliver.webhook import MAX_PAYLOAD_BYTES, render_digest_payload
from monitor.errors import DeliveryError
from monitor.ingest import build_alert
from monitor.model import Alert, Entry, Match
from monitor.store import Store
from tests.fakes import story_view
from tests.test_deliver_outbox import FEED, NOW, Clock, article
from tests.test_deliver_pacing import Timed

LONDON = ZoneInfo("Europe/London")
HIGH = (Match(rule_id="attack", title="Attack", severity="high", tags=("iraq-syria",)),)
CRITICAL = (Match(rule_id="mass", title="Mass casualty", severity="critical"),)


def queue(store: Store, target: str, at: datetime, n: int = 1,
          matches: tuple[Match, ...] = HIGH, tag: str = "") -> None:
    with store.transaction():
        for i in range(n):
            guid = f"{tag}{at.isoformat()}-{i}"
            e = Entry(feed="f", guid=guid, link=f"https://example.org/{guid}", title="t",
                      summary="s", published=at)
            sid = store.open_story(store.add_entry(e, None, at), story_view(guid), at)
            store.add_alert(build_alert(guid, target, sid, FEED, article(), matches,
                                        at + timedelta(microseconds=i)))


def drain(store: Store, targets: dict[str, Timed], clock: Clock,
          policy: DeliveryConfig) -> None:
    deliver(store, targets, policy, clock=clock, rng=random.Random(3), sleep=None)


def policy(**schedules: schedule.Schedule) -> DeliveryConfig:
    return DeliveryConfig(max_attempts=5, backoff_base=30, backoff_max=600,
                          schedules=schedules)


# --- the schedule itself -------------------------------------------------------------------


def test_quiet_hours_across_midnight_in_local_time() -> None:
    s = schedule.Schedule(zone=LONDON, quiet=(time(22), time(7)))
    summer = datetime(2024, 8, 7, 21, 30, tzinfo=UTC)  # 22:30 BST: quiet until 07:00 BST
    assert s.quiet_end(summer) == datetime(2024, 8, 8, 6, 0, tzinfo=UTC)
    assert s.quiet_end(datetime(2024, 8, 8, 5, 59, tzinfo=UTC)) == datetime(
        2024, 8, 8, 6, 0, tzinfo=UTC)
    assert s.quiet_end(datetime(2024, 8, 8, 6, 0, tzinfo=UTC)) is None
    assert s.quiet_end(datetime(2024, 8, 7, 20, 59, tzinfo=UTC)) is None  # 21:59 BST
    winter = datetime(2024, 1, 10, 22, 30, tzinfo=UTC)  # GMT: the same wall times
    assert s.quiet_end(winter) == datetime(2024, 1, 11, 7, 0, tzinfo=UTC)
    day = schedule.Schedule(quiet=(time(9), time(17)))
    assert day.quiet_end(datetime(2024, 8, 7, 12, tzinfo=UTC)) == datetime(
        2024, 8, 7, 17, tzinfo=UTC)
    assert day.quiet_end(datetime(2024, 8, 7, 17, tzinfo=UTC)) is None


def test_quiet_hours_hold_everything_but_critical() -> None:
    s = schedule.Schedule(quiet=(time(0), time(23, 59)))
    high = build_alert("k", "t", 1, FEED, article(), HIGH, NOW)
    critical = build_alert("k", "t", 1, FEED, article(), CRITICAL, NOW)
    assert s.hold_until(high, NOW) is not None and s.hold_until(critical, NOW) is None


def test_daily_digest_slots_stay_at_the_local_time_across_dst() -> None:
    s = schedule.Schedule(zone=LONDON, digest=86400, digest_at=time(8))
    assert s.digest_slot(datetime(2024, 3, 30, 6, 59, tzinfo=UTC)) == datetime(
        2024, 3, 30, 8, 0, tzinfo=UTC)  # 06:59 GMT → 08:00 GMT
    assert s.digest_slot(datetime(2024, 3, 30, 8, 0, tzinfo=UTC)) == datetime(
        2024, 3, 31, 7, 0, tzinfo=UTC), "a boundary is strictly after; 08:00 BST next day"
    assert s.digest_slot(datetime(2024, 10, 27, 12, tzinfo=UTC)) == datetime(
        2024, 10, 28, 8, 0, tzinfo=UTC)


def test_hourly_and_weekly_digest_slots() -> None:
    hourly = schedule.Schedule(digest=3600, digest_at=time(8, 30))
    assert hourly.digest_slot(datetime(2024, 8, 7, 12, 31, tzinfo=UTC)) == datetime(
        2024, 8, 7, 13, 30, tzinfo=UTC)
    weekly = schedule.Schedule(digest=7 * 86400)
    slot = weekly.digest_slot(NOW)  # Wednesday 7 August 2024
    assert slot == datetime(2024, 8, 12, 8, 0, tzinfo=UTC) and slot.weekday() == 0


@pytest.mark.parametrize(("settings", "key"), [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"quiet_hours": "22:00"}, "quiet_hours"),
    ({"quiet_hours": "25:00-07:00"}, "quiet_hours"),
    ({"quiet_hours": "07:00-07:00"}, "quiet_hours"),
    ({"digest": 60}, "digest"),
    ({"digest": 8 * 86400}, "digest"),
    ({"digest_at": "08:00"}, "digest_at"),
    ({"digest": 86400, "digest_at": "8am"}, "digest_at"),
])
def test_bad_settings_name_their_key(settings: dict[str, object], key: str) -> None:
    args = {"timezone": None, "quiet_hours": None, "digest": None, "digest_at": None}
    args.update(settings)
    with pytest.raises(schedule.ScheduleError) as e:
        schedule.build(**args)  # type: ignore[arg-type]
    assert e.value.key == key


# --- the relay -------------------------------------------------------------------------------


def test_quiet_hours_hold_non_critical_rows_until_the_end_in_order(tmp_path: Path) -> None:
    store, clock = Store.open(tmp_path / "m.db"), Clock()
    store.sync_feeds([FEED])
    night = schedule.Schedule(quiet=(time(11), time(13)))  # NOW is 12:00 UTC
    queue(store, "mail", NOW, 3, tag="h")
    queue(store, "mail", NOW, 1, CRITICAL, tag="c")
    queue(store, "hook", NOW, 2, tag="o")
    mail, hook = Timed("mail", clock), Timed("hook", clock)
    targets, rules = {"mail": mail, "hook": hook}, policy(mail=night)
    drain(store, targets, clock, rules)
    assert [a.severity for a in mail.sent] == ["critical"], "critical goes through at once"
    assert len(hook.sent) == 2, "another target is not held"
    clock.now = NOW + timedelta(minutes=59, seconds=59)
    drain(store, targets, clock, rules)
    assert len(mail.sent) == 1
    clock.now = NOW + timedelta(hours=1)
    drain(store, targets, clock, rules)
    assert len(mail.sent) == 4 and mail.at[1:] == [NOW + timedelta(hours=1)] * 3
    assert [a.created_at for a in mail.sent[1:]] == sorted(a.created_at for a in mail.sent[1:])


def test_a_digest_target_gets_one_message_per_period(tmp_path: Path) -> None:
    store, clock = Store.open(tmp_path / "m.db"), Clock()
    store.sync_feeds([FEED])
    daily = schedule.Schedule(digest=86400, digest_at=time(8))
    mail, hook = Timed("mail", clock), Timed("hook", clock)
    targets, rules = {"mail": mail, "hook": hook}, policy(mail=daily)
    for hours in (0, 3, 6):
        clock.now = NOW + timedelta(hours=hours)
        queue(store, "mail", clock.now, 2, tag="d")
        queue(store, "hook", clock.now, 1, tag="o")
        drain(store, targets, clock, rules)
    assert mail.sent == [] and len(hook.sent) == 3
    assert store.alert_counts() == {"pending": 6, "sent": 3}
    clock.now = datetime(2024, 8, 8, 8, 0, tzinfo=UTC)
    queue(store, "mail", clock.now, 1, tag="late")  # queued at the boundary: the next digest
    drain(store, targets, clock, rules)
    assert len(mail.sent) == 1
    digest = mail.sent[0]
    assert digest.kind == "digest" and len(digest.items) == 6
    assert [a.created_at for a in digest.items] == sorted(a.created_at for a in digest.items)
    assert store.alert_counts() == {"pending": 1, "sent": 9}
    drain(store, targets, clock, rules)
    assert len(mail.sent) == 1, "nothing is sent twice"
    clock.now = datetime(2024, 8, 9, 8, 0, tzinfo=UTC)
    drain(store, targets, clock, rules)
    assert len(mail.sent) == 2 and len(mail.sent[1].items) == 1


def test_a_failed_digest_is_retried_whole_with_the_same_key(tmp_path: Path) -> None:
    store, clock = Store.open(tmp_path / "m.db"), Clock()
    store.sync_feeds([FEED])
    hourly = schedule.Schedule(digest=3600, digest_at=time(0))
    mail = Timed("mail", clock, [DeliveryError("HTTP 503", transient=True, retry_after=120)])
    queue(store, "mail", NOW, 4, tag="d")
    rules = policy(mail=hourly)
    clock.now = NOW + timedelta(hours=1)
    drain(store, {"mail": mail}, clock, rules)
    assert mail.sent == [] and len(mail.tried) == 1
    assert store.alert_counts() == {"pending": 4}
    clock.now += timedelta(seconds=120)
    drain(store, {"mail": mail}, clock, rules)
    assert len(mail.sent) == 1 and mail.tried == [mail.sent[0].key] * 2
    assert store.alert_counts() == {"sent": 4}


def test_a_digest_in_quiet_hours_waits_unless_it_holds_a_critical(tmp_path: Path) -> None:
    store, clock = Store.open(tmp_path / "m.db"), Clock()
    store.sync_feeds([FEED])
    both = schedule.Schedule(digest=3600, digest_at=time(0), quiet=(time(12, 30), time(15)))
    mail = Timed("mail", clock)
    rules = policy(mail=both)
    queue(store, "mail", NOW, 2, tag="d")
    clock.now = NOW + timedelta(hours=1)  # 13:00: the slot, in quiet hours
    drain(store, {"mail": mail}, clock, rules)
    assert mail.sent == []
    clock.now = NOW + timedelta(hours=3)
    drain(store, {"mail": mail}, clock, rules)
    assert len(mail.sent) == 1 and len(mail.sent[0].items) == 2
    queue(store, "mail", clock.now, 1, CRITICAL, tag="c")
    clock.now = datetime(2024, 8, 8, 13, 0, tzinfo=UTC)
    drain(store, {"mail": mail}, clock, rules)
    assert len(mail.sent) == 2 and mail.sent[1].severity == "critical"


def test_digest_rows_do_not_expire_while_they_wait_for_their_period(tmp_path: Path) -> None:
    store, clock = Store.open(tmp_path / "m.db"), Clock()
    store.sync_feeds([FEED])
    weekly = schedule.Schedule(digest=7 * 86400)
    mail = Timed("mail", clock)
    rules = DeliveryConfig(max_age=3600, schedules={"mail": weekly})
    queue(store, "mail", NOW, 2, tag="d")
    clock.now = datetime(2024, 8, 12, 8, 0, tzinfo=UTC)
    drain(store, {"mail": mail}, clock, rules)
    assert len(mail.sent) == 1 and len(mail.sent[0].items) == 2


# --- what a digest looks like ----------------------------------------------------------------


def many(n: int, title: str = "Rocket attack on Ain al-Asad") -> list[Alert]:
    out = []
    for i in range(n):
        a = build_alert(f"k{i}", "t", i + 1, FEED, article(), CRITICAL if i % 7 == 0 else HIGH,
                        NOW + timedelta(minutes=i))
        out.append(replace(a, key=f"k{i}", title=f"{title} {i}",
                           url=f"https://example.org/{i}?a=1&b=<2>"))
    return out


def test_digest_key_is_stable_for_the_same_rows() -> None:
    alerts = many(3)
    assert build_digest("t", alerts, NOW).key == build_digest("t", alerts, NOW + timedelta(1)).key
    assert build_digest("t", alerts, NOW).key != build_digest("t", alerts[:2], NOW).key
    assert build_digest("t", alerts, NOW).key != build_digest("u", alerts, NOW).key


def test_slack_digest_of_120_alerts_keeps_every_limit() -> None:
    hostile = "<!channel> &amp; 👩‍👩‍👧‍👦 漢字 " * 30
    payload = render_slack(build_digest("t", many(120, hostile), NOW))
    blocks = payload["blocks"]
    assert len(blocks) <= MAX_BLOCKS and payload["unfurl_links"] is False
    assert len(blocks[0]["text"]["text"]) <= HEADER_LIMIT
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(t) <= SECTION_LIMIT for t in texts)
    assert len(json.dumps(payload, ensure_ascii=False)) < 40_000
    body = "\n".join(texts)
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert "&amp;amp;" in body and "&amp;amp;amp;" not in body, "escaped exactly once"
    assert body.count("<https://example.org/") == 120, "all 120 fit"


def test_slack_digest_too_long_to_show_counts_the_rest() -> None:
    payload = render_slack(build_digest("t", many(400, "&<>" * 100), NOW))
    blocks = payload["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert len(json.dumps(payload, ensure_ascii=False)) < 40_000
    shown = sum(b["text"]["text"].count("<https://example.org/")
                for b in blocks if b["type"] == "section")
    more = blocks[-1]["elements"][0]["text"]
    assert 50 < shown < 400 and shown + int(more.split()[2]) == 400


def test_slack_digest_lists_all_of_a_small_one() -> None:
    payload = render_slack(build_digest("t", many(5), NOW))
    text = "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert all(f"Ain al-Asad {i}" in text for i in range(5)) and "more" not in text
    assert "5 alerts: 1 critical, 4 high" in text


def test_email_digest_parts_escape_and_list() -> None:
    alerts = many(30, "<script>alert(1)</script>")
    d = build_digest("t", alerts, NOW)
    assert subject(d) == "[DIGEST] 30 alerts: 5 critical, 25 high"
    html, plain = html_body(d), plain_body(d)
    assert "<script>" not in html and html.count("&lt;script&gt;") == 30 and "<img" not in html
    assert plain.count("<script>alert(1)</script>") == 30 and "[CRITICAL]" in plain


def test_console_digest_lists_each_alert() -> None:
    text = render_console(build_digest("t", many(3), NOW))
    assert text.startswith("[CRITICAL] (DIGEST) news-monitor digest: 3 alerts")
    assert all(f"https://example.org/{i}" in text for i in range(3))


def test_webhook_digest_payload_is_versioned_and_capped() -> None:
    small = json.loads(render_digest_payload(build_digest("t", many(3), NOW)))
    assert small["type"] == "digest" and small["version"] == 1
    assert [a["key"] for a in small["digest"]["alerts"]] == ["k0", "k1", "k2"]
    assert small["digest"]["alerts_truncated"] is False and small["digest"]["count"] == 3
    big = render_digest_payload(build_digest("t", many(500, "x" * 400), NOW))
    parsed = json.loads(big)
    assert len(big) <= MAX_PAYLOAD_BYTES and parsed["digest"]["alerts_truncated"] is True
    assert 10 < len(parsed["digest"]["alerts"]) < 500 and parsed["digest"]["count"] == 500
