"""The outbox relay: sent only when accepted, retried with backoff, dead after the bound."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import DeliveryConfig, RouteConfig
from monitor.deliver.outbox import MAX_RETRY_AFTER, backoff, deliver
from monitor.errors import DeliveryError
from monitor.ingest import build_alert, route
from monitor.model import Alert, Article, Entry, Feed, Match
from monitor.store import Store
from tests.fakes import story_view

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)

POLICY = DeliveryConfig(max_attempts=3, backoff_base=30, backoff_max=600)
FEED = Feed(name="f", url="https://example.org/feed", interval=3600, tags=("iraq",))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Target:
    def __init__(self, name: str, errors: list[DeliveryError | None]) -> None:
        self.name = name
        self.errors = errors
        self.sent: list[Alert] = []
        self.tried: list[str] = []

    def send(self, alert: Alert) -> None:
        self.tried.append(alert.key)
        error = self.errors.pop(0) if self.errors else None
        if error:
            raise error
        self.sent.append(alert)


def article() -> Article:
    e = Entry(feed="f", guid="g", link="https://example.org/a", title="Rockets hit Ain al-Asad",
              summary="s", published=NOW)
    return Article(entry=e, url=e.link, title=e.title, text="t", published=NOW, site="S",
                   source="page")


MATCHES = (Match(rule_id="b", title="B", severity="medium", tags=("x",), snippet="second"),
           Match(rule_id="a", title="A", severity="high", tags=("iraq-syria",), snippet="first"))


def queued(tmp_path: Path, targets: list[str]) -> Store:
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    with store.transaction():
        eid = store.add_entry(article().entry, "https://example.org/a", NOW)
        sid = store.open_story(eid, story_view("t"), NOW)
        for name in targets:
            store.add_alert(build_alert("https://example.org/a", name, sid, FEED, article(),
                                        MATCHES, NOW))
    return store


def test_sent_only_after_the_target_accepted(tmp_path: Path) -> None:
    store = queued(tmp_path, ["ok", "down"])
    ok = Target("ok", [])
    down = Target("down", [DeliveryError("HTTP 500", transient=True)])
    clock = Clock()
    report = deliver(store, {"ok": ok, "down": down}, POLICY, clock=clock,
                     rng=random.Random(1))
    assert (report.sent, report.retrying, report.dead) == (1, 1, 0) and not report.ok
    assert store.alert_counts() == {"sent": 1, "pending": 1}
    assert report.errors == ("target=down: HTTP 500",)
    # not due again until its backoff ran out; then sent, with the same key
    assert deliver(store, {"down": down}, POLICY, clock=clock, rng=random.Random(1)).sent == 0
    clock.now = NOW + timedelta(seconds=POLICY.backoff_base + 1)
    assert deliver(store, {"down": down}, POLICY, clock=clock, rng=random.Random(1)).sent == 1
    assert down.tried == [down.sent[0].key] * 2, "a retry reuses the idempotency key"
    assert down.sent[0].key != ok.sent[0].key
    assert store.alert_counts() == {"sent": 2}


def test_permanent_failure_and_attempt_bound_end_dead(tmp_path: Path) -> None:
    store = queued(tmp_path, ["gone", "flaky"])
    gone = Target("gone", [DeliveryError("HTTP 410", transient=False)])
    flaky = Target("flaky", [DeliveryError("timeout", transient=True)] * 5)
    clock = Clock()
    for _ in range(POLICY.max_attempts):
        deliver(store, {"gone": gone, "flaky": flaky}, POLICY, clock=clock, rng=random.Random(2))
        clock.now += timedelta(seconds=POLICY.backoff_max + 1)
    assert store.alert_counts()["dead"] == 2
    assert [a.kind for a in gone.sent] == ["operator"], "flaky's death is reported to gone"
    assert flaky.sent == [] and flaky.tried[0] != flaky.tried[-1]  # then its operator alert


def test_alert_for_a_target_removed_from_config_is_dead_not_lost(tmp_path: Path) -> None:
    store = queued(tmp_path, ["old"])
    report = deliver(store, {}, POLICY, clock=Clock(), rng=random.Random(3))
    assert report.dead == 1 and "no longer configured" in report.errors[0]


def test_backoff_is_jittered_capped_and_honours_retry_after() -> None:
    rng = random.Random(4)
    waits = [backoff(5, POLICY, rng) for _ in range(200)]
    assert all(1.0 <= w <= POLICY.backoff_max for w in waits)
    assert len({round(w) for w in waits}) > 50  # full jitter, not a fixed step
    assert backoff(0, POLICY, rng, retry_after=120) >= 120
    assert backoff(0, POLICY, rng, retry_after=10**9) == MAX_RETRY_AFTER


def test_alert_key_is_stable_and_matches_are_ordered_by_severity() -> None:
    a = build_alert("https://example.org/a", "slack", 1, FEED, article(), MATCHES, NOW)
    b = build_alert("https://example.org/a", "slack", 99, FEED, article(), MATCHES,
                    NOW + timedelta(days=1))
    assert a.key == b.key and a.key.startswith("nm_")
    assert build_alert("https://example.org/a", "email", 1, FEED, article(), MATCHES,
                       NOW).key != a.key
    assert a.severity == "high" and [m.rule_id for m in a.matches] == ["a", "b"]
    assert a.snippet == "first"


LOW = (Match(rule_id="ctx", title="Context", severity="low"),)


def test_without_routes_low_context_matches_are_not_pushed() -> None:
    targets = {"slack": object()}
    assert route((), targets, LOW, FEED) == []
    assert route((), targets, LOW, FEED, default_min="low") == ["slack"]
    assert route((RouteConfig(targets=("slack",), min_severity="low"),), targets, LOW, FEED) == \
        ["slack"]


@pytest.mark.parametrize(("routes", "expected"), [
    ((), ["email", "slack"]),
    ((RouteConfig(targets=("slack",), min_severity="high"),), ["slack"]),
    ((RouteConfig(targets=("slack",), min_severity="critical"),), []),
    ((RouteConfig(targets=("email",), tags=("iraq-syria",)),), ["email"]),  # a rule tag
    ((RouteConfig(targets=("email",), tags=("iraq",)),), ["email"]),  # a feed tag
    ((RouteConfig(targets=("email",), tags=("lebanon",)),), []),
])
def test_routes(routes: tuple[RouteConfig, ...], expected: list[str]) -> None:
    assert route(routes, {"slack": object(), "email": object()}, MATCHES, FEED) == expected


class Broken(Target):
    """A target with a bug for one story: raises something that is not a DeliveryError."""

    def send(self, alert: Alert) -> None:
        self.tried.append(alert.key)
        if alert.story_id == 1:
            raise KeyError("a rendering bug")
        self.sent.append(alert)


def test_a_target_bug_on_one_alert_does_not_block_the_others(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    with store.transaction():
        for n in (1, 2):
            e = Entry(feed="f", guid=f"g{n}", link=f"https://example.org/{n}", title="t",
                      summary="s", published=NOW)
            eid = store.add_entry(e, None, NOW)
            sid = store.open_story(eid, story_view(), NOW)
            store.add_alert(build_alert(f"id{n}", "t", sid, FEED, article(), MATCHES, NOW))
    target, clock = Broken("t", []), Clock()
    for _ in range(POLICY.max_attempts):
        deliver(store, {"t": target}, POLICY, clock=clock, rng=random.Random(5))
        clock.now += timedelta(seconds=POLICY.backoff_max + 1)
    assert [a.story_id for a in target.sent] == [2]
    assert store.alert_counts() == {"sent": 1, "dead": 1}


def test_routes_by_rule_id() -> None:
    targets = {"slack": object(), "email": object()}
    by_rule = (RouteConfig(targets=("email",), rules=("a",)),
               RouteConfig(targets=("slack",), rules=("zzz",)))
    assert route(by_rule, targets, MATCHES, FEED) == ["email"]


def test_a_row_whose_lease_ran_out_in_a_long_drain_is_left_to_the_process_that_took_it(
        tmp_path: Path) -> None:
    """Three alerts claimed at once, each send taking 2.5 minutes: the third's lease (5
    minutes) runs out before its turn, and a second process (a `monitor check` beside the
    daemon, its own Store on the same file) claims and sends it. The first drain leaves it; the
    second's own row was renewed before its send, so the other process did not take that one."""
    store = queued(tmp_path, ["a", "b", "c"])
    other = Store.open(tmp_path / "m.db")
    clock = Clock()
    theirs = {name: Target(name, []) for name in "abc"}
    reports = []

    class Slow(Target):
        def send(self, alert: Alert) -> None:
            super().send(alert)
            clock.now += timedelta(minutes=2, seconds=30)
            if self.name == "b":  # the other process drains now, 5 min 1 s after the claim
                clock.now += timedelta(seconds=1)
                reports.append(deliver(other, theirs, POLICY, clock=clock,
                                       rng=random.Random(2), sleep=None))

    ours = {name: Slow(name, []) for name in "abc"}
    report = deliver(store, ours, POLICY, clock=clock, rng=random.Random(1), sleep=None)
    assert [t for t in "abc" if ours[t].sent] == ["a", "b"]
    assert [t for t in "abc" if theirs[t].sent] == ["c"]
    assert report.sent == 2 and reports[0].sent == 1
    assert store.alert_counts() == {"sent": 3}
    other.close()
