"""Model objects ↔ the JSON and text kept in SQLite columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.model import Alert, Evidence, Match, StoryArticle


def dt_out(value: datetime | None, timespec: str = "seconds") -> str | None:
    """An aware datetime as ISO 8601 UTC text (naive values are taken as UTC); ``timespec``
    as for ``datetime.isoformat`` (``"microseconds"`` where sub-second order matters)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec=timespec)


def dt_in(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def evidence_to_dict(e: Evidence) -> dict[str, Any]:
    return {"kind": e.kind, "ref": e.ref, "label": e.label, "text": e.text, "field": e.field,
            "start": e.start, "end": e.end}


def evidence_from_dict(d: dict[str, Any]) -> Evidence:
    return Evidence(kind=d["kind"], ref=d["ref"], label=d["label"], text=d["text"],
                    field=d["field"], start=d["start"], end=d["end"])


def match_to_dict(m: Match) -> dict[str, Any]:
    return {"rule_id": m.rule_id, "title": m.title, "severity": m.severity, "tags": list(m.tags),
            "entities": list(m.entities), "terms": list(m.terms), "snippet": m.snippet,
            "marks": [list(span) for span in m.marks],
            "evidence": [evidence_to_dict(e) for e in m.evidence]}


def match_from_dict(d: dict[str, Any]) -> Match:
    """A match from its stored form; rows written before marks and evidence existed get none."""
    return Match(rule_id=d["rule_id"], title=d["title"], severity=d["severity"],
                 tags=tuple(d["tags"]), entities=tuple(d["entities"]), terms=tuple(d["terms"]),
                 snippet=d["snippet"],
                 marks=tuple((int(a), int(b)) for a, b in d.get("marks", ())),
                 evidence=tuple(evidence_from_dict(e) for e in d.get("evidence", ())))


def alert_to_json(a: Alert) -> str:
    return json.dumps({
        "key": a.key, "target": a.target, "story_id": a.story_id, "severity": a.severity,
        "title": a.title, "url": a.url, "feed": a.feed, "site": a.site,
        "published": dt_out(a.published), "snippet": a.snippet,
        "matches": [match_to_dict(m) for m in a.matches], "created_at": dt_out(a.created_at),
        "kind": a.kind, "sources": list(a.sources), "story_title": a.story_title,
        "story_started": dt_out(a.story_started), "changes": a.changes,
        "articles": [{"title": s.title, "url": s.url, "outlet": s.outlet,
                      "published": dt_out(s.published)} for s in a.articles],
    }, ensure_ascii=False, sort_keys=True)


def alert_from_json(text: str) -> Alert:
    d = json.loads(text)
    created = dt_in(d["created_at"])
    assert created is not None
    return Alert(
        key=d["key"], target=d["target"], story_id=d["story_id"], severity=d["severity"],
        title=d["title"], url=d["url"], feed=d["feed"], site=d["site"],
        published=dt_in(d["published"]), snippet=d["snippet"],
        matches=tuple(match_from_dict(m) for m in d["matches"]), created_at=created,
        kind=d["kind"], sources=tuple(d["sources"]), story_title=d.get("story_title", ""),
        story_started=dt_in(d.get("story_started")), changes=d.get("changes", ""),
        articles=tuple(StoryArticle(title=s["title"], url=s["url"], outlet=s["outlet"],
                                    published=dt_in(s["published"]))
                       for s in d.get("articles", ())),
    )
