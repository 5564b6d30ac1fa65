"""The Subject and the two bodies (plain text, HTML) of an alert e-mail; ``mail`` builds the
message and sends it.

Subject: ``[HIGH] <title>`` for a new alert; ``[UPDATE] [HIGH] <story title>`` and
``[ESCALATION] [CRITICAL] <story title>`` for the later alerts of a story (threaded under its
first alert by ``mail``). Every control character and line separator of the feed text becomes a
space, and every ``=?`` is broken with a word joiner, so a title can neither split the header
nor smuggle an RFC 2047 encoded newline.

Bodies: an update or escalation starts with the story (title, first seen, what changed, the
outlets reporting it), then the latest report, then the story's articles (each title linked,
its outlet and time; the first 25, then "and N more"), the matched rules and the snippet. In
the HTML part every feed string is escaped with ``html.escape``; only http(s) links are made and
nothing is loaded from anywhere (no images, no styles from outside).
"""

from __future__ import annotations

import html
import re

from monitor.deliver import story
from monitor.deliver.base import clean_line, clean_text, truncate
from monitor.deliver.marks import Segment, cut, segments, snippet_marks
from monitor.model import Alert

SUBJECT_LIMIT = 200
SNIPPET_LIMIT = 5000
ARTICLES_SHOWN = 25
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def subject(alert: Alert) -> str:
    """``[SEVERITY] title`` (``[UPDATE] [SEVERITY] story title`` for a follow-up): one line,
    ≤ 200 characters, no encoded-word lookalikes."""
    label = story.kind_label(alert)
    raw = alert.story_title if label and clean_line(alert.story_title) else alert.title
    title = clean_line(_CONTROLS.sub(" ", raw)) or "(untitled)"
    kind = "" if alert.kind == "new" or label else f" {alert.kind.upper()}"
    prefix = f"[{label}] " if label else ""
    line = truncate(f"{prefix}[{alert.severity.upper()}{kind}] {title}", SUBJECT_LIMIT)
    return line.replace("=?", "=\u2060?")


def _url(url: str | None) -> str | None:
    url = clean_line(url)
    return url if re.match(r"(?i)https?://", url) else None


def _outlet(alert: Alert) -> str:
    site, feed = clean_line(alert.site), clean_line(alert.feed)
    return f"{site} (feed {feed})" if site and feed and site != feed else (site or feed)


def _snippet(alert: Alert) -> list[Segment]:
    """The cleaned snippet (≤ 5000 characters) as segments; the marked ones are the evidence."""
    raw = alert.snippet[:100_000]
    marks = snippet_marks(alert)
    if not marks:
        text = truncate(clean_text(raw), SNIPPET_LIMIT)
        return [(text, False)] if text else []
    return cut(segments(raw, marks, multiline=True), SNIPPET_LIMIT)


def _story_rows(alert: Alert) -> list[tuple[str, str]]:
    """(label, cleaned text) rows about the story of a follow-up; none for a new alert."""
    if not story.is_followup(alert):
        return []
    rows = [("Story", f"{story.title(alert)} (#{alert.story_id})")]
    if (since := story.started(alert)) is not None:
        rows.append(("First seen", story.when(since)))
    if changed := story.changes(alert):
        rows.append(("Changed", changed))
    rows.append(("Reported by", story.outlets_line(alert)))
    return rows


def plain_body(alert: Alert) -> str:
    lines: list[str] = []
    if label := story.kind_label(alert):
        lines += [f"{label} [{alert.severity.upper()}] {story.title(alert)}", ""]
        lines += [f"{k + ':':<12} {v}" for k, v in _story_rows(alert)]
        lines += ["", f"Latest report: {clean_line(alert.title)}"]
    else:
        lines += [f"[{alert.severity.upper()}] {clean_line(alert.title)}", ""]
    lines += [f"Outlet:    {_outlet(alert)}",
              f"Published: {story.when(alert.published, 'unknown')}"]
    if (url := _url(alert.url)) is not None:
        lines.append(f"Link:      {url}")
    if not label:
        lines.append(f"Story:     #{alert.story_id}")
        if alert.sources:
            lines.append(f"Also:      {', '.join(clean_line(s) for s in alert.sources)}")
    if story.shows_articles(alert):
        shown, more = story.articles(alert, ARTICLES_SHOWN)
        lines += ["", f"Articles in this story ({len(alert.articles)}):"]
        for i, a in enumerate(shown, 1):
            lines.append(f"  {i}. {a.title}")
            lines.append(f"     {a.outlet + ' · ' if a.outlet else ''}{a.published}")
            if a.url:
                lines.append(f"     {a.url}")
        if more:
            lines.append(f"  … and {more} more")
    lines += ["", "Matched rules:"]
    for m in alert.matches:
        lines.append(f"  - {clean_line(m.rule_id)} ({m.severity.upper()}): {clean_line(m.title)}")
        if m.entities:
            lines.append(f"      entities: {', '.join(clean_line(e) for e in m.entities)}")
        if m.terms:
            lines.append(f"      terms: {', '.join(clean_line(t) for t in m.terms)}")
    snippet = "".join(f"«{t}»" if marked else t for t, marked in _snippet(alert))
    if snippet:
        lines += ["", "Snippet:", *(f"  {line}" for line in snippet.split("\n"))]
    lines += ["", "-- ", f"news-monitor alert {clean_line(alert.key)}"]
    return "\n".join(lines) + "\n"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _table(rows: list[tuple[str, str]]) -> list[str]:
    return ["<table>",
            *(f'<tr><th align="left">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in rows),
            "</table>"]


def _html_articles(alert: Alert) -> list[str]:
    if not story.shows_articles(alert):
        return []
    shown, more = story.articles(alert, ARTICLES_SHOWN)
    items = []
    for a in shown:
        label = f'<a href="{_e(a.url)}">{_e(a.title)}</a>' if a.url else _e(a.title)
        outlet = f"{_e(a.outlet)} · " if a.outlet else ""
        items.append(f"<li>{label}<br>{outlet}{_e(a.published)}</li>")
    tail = [f"<p>… and {more} more</p>"] if more else []
    return [f"<p><b>Articles in this story ({len(alert.articles)})</b></p>",
            f"<ol>{''.join(items)}</ol>", *tail]


def html_body(alert: Alert) -> str:
    """The HTML part: every feed string escaped, no images, no remote resources."""
    title = _e(clean_line(alert.title))
    url = _url(alert.url)
    heading = f'<a href="{_e(url)}">{title}</a>' if url else title
    label = story.kind_label(alert)
    head: list[str] = []
    if label:
        color = ' style="color:#b00000"' if alert.kind == "escalation" else ""
        head += [f"<p{color}><b>{label} [{_e(alert.severity.upper())}]</b> "
                 f"{_e(story.title(alert))}</p>", *_table(_story_rows(alert)),
                 f"<p><b>Latest report:</b> {heading}</p>"]
    else:
        head.append(f"<p><b>[{_e(alert.severity.upper())}]</b> {heading}</p>")
    rows = [("Outlet", _outlet(alert)), ("Published", story.when(alert.published, "unknown"))]
    if not label:
        rows.append(("Story", f"#{alert.story_id}"))
        if alert.sources:
            rows.append(("Also", ", ".join(clean_line(s) for s in alert.sources)))
    items = []
    for m in alert.matches:
        detail = "".join(
            f"<br>{name}: {_e(', '.join(clean_line(v) for v in values))}"
            for name, values in (("entities", m.entities), ("terms", m.terms)) if values
        )
        items.append(f"<li><b>{_e(clean_line(m.rule_id))}</b> ({_e(m.severity.upper())}): "
                     f"{_e(clean_line(m.title))}{detail}</li>")
    snippet = "".join(f"<mark>{_e(t)}</mark>" if marked else _e(t)
                      for t, marked in _snippet(alert)).replace("\n", "<br>\n")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head><body>',
        *head,
        *_table(rows),
        *_html_articles(alert),
        "<p><b>Matched rules</b></p>",
        f"<ul>{''.join(items)}</ul>",
        f"<blockquote>{snippet}</blockquote>" if snippet else "",
        "</body></html>",
    ]) + "\n"
