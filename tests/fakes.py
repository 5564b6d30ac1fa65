"""Test doubles shared by the unit tests of single modules (end-to-end tests use real servers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.match import RuleSet, load_rules
from monitor.model import StoryView


@dataclass(frozen=True)
class FakeResponse:
    url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""


class FakePoster:
    """Stands in for GuardedClient.post: records calls; answers with a fixed response or raises
    a fixed error."""

    def __init__(self, response: FakeResponse | None = None,
                 error: Exception | None = None) -> None:
        self.response = response or FakeResponse("https://receiver.example/", 204)
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str] | None = None,
             secret_url: bool = True) -> FakeResponse:
        self.calls.append({"url": url, "content": content, "headers": dict(headers or {}),
                           "secret_url": secret_url})
        if self.error is not None:
            raise self.error
        return self.response


# A small rule set exercising every kind of part, scope and field (tests of the match stage).
SMALL = """\
entities:
  - {id: tanf, kind: base, name: Al-Tanf Garrison, aliases: [Tanf, al-Tanf]}
  - {id: kh, kind: militia, name: Kataib Hezbollah, aliases: [Kataib Hezbollah]}
terms:
  attack: [drone, rocket]
  us: [US forces]
  veto: [US strike]
rules:
  - {id: sentence, title: S, severity: low, all: [{kind: base}, {terms: attack}],
     none: [{terms: veto}]}
  - {id: window, title: W, severity: medium, within: 8,
     all: [{kind: militia}, {terms: attack}, {terms: us}], none: [{terms: veto}]}
  - {id: title-only, title: T, severity: high, field: title, all: [{entity: tanf}]}
  - {id: any-of, title: A, severity: low, field: body,
     any: [{entity: kh}, {terms: us}], none: [{terms: veto}]}
"""


def small_rules(tmp_path: Path) -> RuleSet:
    (tmp_path / "r.yaml").write_text(SMALL, encoding="utf-8")
    return load_rules(tmp_path)


def story_view(title: str = "T", when: datetime | None = None) -> StoryView:
    """A bare story for store tests."""
    when = when or datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
    return StoryView(id=0, title=title, severity="high", first_seen=when, last_seen=when,
                     event_date=None, entities=frozenset(), sites=frozenset(),
                     groups=frozenset(), rules=frozenset(), outlets=frozenset(),
                     text_sample="")
