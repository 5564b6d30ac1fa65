"""The relay per target: pacing, pauses (Retry-After, outages), gone targets, operator alerts
about dead rows, and max_age. Fake clock, real SQLite; nothing really sleeps."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from pathlib import Path

from monitor.config import DeliveryConfig
from monitor.deliver.outbox import DeliveryReport, deliver
from monitor.deliver.slack import slack_outcome
from monitor.deliver.webhook import webhook_outcome
from monitor.errors import DeliveryError
from monitor.ingest import build_alert
from monitor.model import Alert, Entry
from monitor.store import Store
from tests.fakes import story_view
from tests.test_deliver_outbox import FEED, MATCHES, NOW, Clock, Target, article

POLICY = DeliveryConfig(max_attempts=10, backoff_base=30, backoff_max=600)


class Timed(Target):
    """Records the clock time of every accepted alert."""

    def __init__(self, name: str, clock: Clock, errors: list[DeliveryError | None] | None = None,
                 min_interval: float = 0.0) -> None:
        super().__init__(name, errors or [])
        self.clock = clock
        self.min_interval = min_interval
        self.at: list[datetime] = []
        self.down = False

    def send(self, alert: Alert) -> None:
        if self.down:
            self.tried.append(alert.key)
            raise DeliveryError("HTTP 503", transient=True)
        super().send(alert)
        self.at.append(self.clock.now)


def fill(tmp_path: Path, targets: list[str], n: int) -> Store:
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    with store.transaction():
        for i in range(n):
            e = Entry(feed="f", guid=f"g{i}", link=f"https://example.org/{i}", title="t",
                      summary="s", published=NOW)
            sid = store.open_story(store.add_entry(e, None, NOW), story_view(f"t{i}"), NOW)
            for name in targets:
                store.add_alert(build_alert(f"id{i}", name, sid, FEED, article(), MATCHES,
                                            NOW + timedelta(microseconds=i)))
    return store


def run(store: Store, targets: dict[str, Timed], clock: Clock,
        policy: DeliveryConfig = POLICY) -> DeliveryReport:
    def sleep(seconds: float) -> None:
        clock.now += timedelta(seconds=seconds)
    return deliver(store, targets, policy, clock=clock, rng=random.Random(7), sleep=sleep)


def spaced(times: list[datetime], seconds: float) -> bool:
    return all((b - a).total_seconds() >= seconds for a, b in itertools.pairwise(times))


def test_a_burst_to_slack_is_paced_and_does_not_delay_another_target(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["slack", "hook"], 30), Clock()
    slack, hook = Timed("slack", clock, min_interval=1.0), Timed("hook", clock)
    report = run(store, {"slack": slack, "hook": hook}, clock)
    assert len(slack.sent) == 30 and spaced(slack.at, 1.0) and report.sent == 60
    assert hook.at == [NOW] * 30, "the other target is sent at once"
    assert [a.story_id for a in slack.sent] == sorted(a.story_id for a in slack.sent)


def test_without_sleep_paced_rows_wait_for_the_next_drain(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["slack"], 3), Clock()
    slack = Timed("slack", clock, min_interval=1.0)
    report = deliver(store, {"slack": slack}, POLICY, clock=clock, rng=random.Random(1),
                     sleep=None)
    assert (report.sent, report.deferred) == (1, 2)
    assert deliver(store, {"slack": slack}, POLICY, clock=clock, rng=random.Random(1),
                   sleep=None).sent == 0
    clock.now += timedelta(seconds=1)
    assert deliver(store, {"slack": slack}, POLICY, clock=clock, rng=random.Random(1),
                   sleep=None).sent == 1
    assert len(set(slack.tried)) == 2 and len(slack.tried) == 2, "a held row is not attempted"


def test_min_interval_override_from_config(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["hook"], 3), Clock()
    hook = Timed("hook", clock)
    policy = DeliveryConfig(min_interval={"hook": 5.0})
    deliver(store, {"hook": hook}, policy, clock=clock, rng=random.Random(1),
            sleep=lambda s: setattr(clock, "now", clock.now + timedelta(seconds=s)))
    assert len(hook.at) == 3 and spaced(hook.at, 5.0)


def test_retry_after_pauses_only_that_target(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["slack", "hook"], 3), Clock()
    slack = Timed("slack", clock, [DeliveryError("429", transient=True, retry_after=30)])
    hook = Timed("hook", clock)
    report = run(store, {"slack": slack, "hook": hook}, clock)
    assert len(hook.sent) == 3 and slack.sent == [] and len(slack.tried) == 1
    assert report.retrying == 1 and report.deferred == 2
    clock.now = NOW + timedelta(seconds=29)
    assert run(store, {"slack": slack, "hook": hook}, clock).sent == 0
    clock.now = NOW + timedelta(seconds=30)
    assert run(store, {"slack": slack, "hook": hook}, clock).sent == 3
    assert [a.story_id for a in slack.sent] == [1, 2, 3]


def test_a_target_down_for_an_hour_gets_everything_in_order_paced(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["slack", "hook"], 30), Clock()
    slack, hook = Timed("slack", clock, min_interval=1.0), Timed("hook", clock)
    slack.down = True
    policy_targets = {"slack": slack, "hook": hook}
    defaults = DeliveryConfig()  # backoff up to an hour, 10 attempts: outlives an hour's outage
    while clock.now < NOW + timedelta(hours=1):
        run(store, policy_targets, clock, defaults)
        clock.now += timedelta(minutes=1)
    assert slack.sent == [] and len(hook.sent) == 30
    assert len(set(slack.tried)) == 1, "only the head row is retried while the target is down"
    slack.down = False
    for _ in range(120):
        run(store, policy_targets, clock, defaults)
        clock.now += timedelta(minutes=1)
    assert [a.story_id for a in slack.sent] == list(range(1, 31))
    assert spaced(slack.at, 1.0) and store.alert_counts() == {"sent": 60}


def test_gone_disables_the_target_keeps_rows_pending_and_enable_resumes(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["hook", "other"], 2), Clock()
    gone = webhook_outcome("hook", 410, {}, b"")
    assert gone is not None and gone.gone
    hook, other = Timed("hook", clock, [gone]), Timed("other", clock)
    report = run(store, {"hook": hook, "other": other}, clock)
    assert report.disabled and report.disabled[0].startswith("hook: ") and not report.ok
    assert store.disabled_targets().keys() == {"hook"} and len(other.sent) == 3
    (notice,) = [a for a in other.sent if a.kind == "operator"]
    assert notice.title == "news-monitor: target 'hook' is disabled" and notice.story_id == 0
    assert "410" in notice.snippet and "monitor alerts enable hook" in notice.snippet
    assert store.alert_counts() == {"pending": 2, "sent": 3}, "not lost, not dead"
    clock.now += timedelta(hours=1)
    assert run(store, {"hook": hook, "other": other}, clock).sent == 0
    assert store.enable_target("hook") and not store.enable_target("hook")
    assert run(store, {"hook": hook, "other": other}, clock).sent == 2
    assert store.alert_counts() == {"sent": 5}


def test_slack_gone_codes() -> None:
    for code in (b"channel_is_archived", b"no_service", b"invalid_token", b"team_disabled"):
        error = slack_outcome("s", 404 if code == b"no_service" else 403, {}, code)
        assert error is not None and error.gone and not error.transient
    error = slack_outcome("s", 400, {}, b"invalid_payload")
    assert error is not None and not error.gone


def test_a_dead_row_alerts_the_operator_on_the_other_target_once(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["hook", "other"], 1), Clock()
    hook = Timed("hook", clock, [DeliveryError("HTTP 400 bad", transient=False)])
    other = Timed("other", clock, [DeliveryError("HTTP 400 too", transient=False)])
    report = run(store, {"hook": hook, "other": other}, clock)
    assert report.dead == 2
    # each dead row queued one operator alert to the other target; those are sent now
    ops = [a for a in hook.sent + other.sent if a.kind == "operator"]
    assert sorted(a.target for a in ops) == ["hook", "other"]
    assert all(a.story_id == 1 and "HTTP 400" in a.snippet for a in ops)
    again = run(store, {"hook": hook, "other": other}, clock)
    assert again.sent == 0 and store.alert_counts() == {"dead": 2, "sent": 2}


def test_a_dead_operator_alert_raises_no_other(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["hook"], 1), Clock()
    op = Alert(key="op", target="hook", story_id=1, severity="high", title="t", url=None,
               feed="f", site=None, published=NOW, snippet="s", matches=(), created_at=NOW,
               kind="operator")
    with store.transaction():
        store.add_alert(op)
    hook = Timed("hook", clock, [None, DeliveryError("no", transient=False)])
    other = Timed("other", clock)
    report = run(store, {"hook": hook, "other": other}, clock)
    assert report.dead == 1 and other.sent == []


def test_max_age_kills_old_pending_rows_and_reports_them(tmp_path: Path) -> None:
    store, clock = fill(tmp_path, ["hook", "other"], 1), Clock()
    hook = Timed("hook", clock)
    hook.down = True
    other = Timed("other", clock)
    run(store, {"hook": hook, "other": other}, clock)
    clock.now = NOW + timedelta(seconds=POLICY.max_age + 1)
    report = run(store, {"hook": hook, "other": other}, clock)
    assert report.dead == 1 and "max_age" in report.errors[0]
    assert [a.kind for a in other.sent] == ["new", "operator"]
    assert store.alert_counts() == {"dead": 1, "sent": 2}
