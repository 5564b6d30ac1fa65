"""The console target: a readable multi-line alert on a text stream (stdout by default).

Every feed-derived string is cleaned first (:func:`~monitor.deliver.base.clean_line`), so a title
cannot move the cursor, retitle the terminal or hide text with escape sequences. Colour, when
enabled, is added by us around the severity only. The evidence in the snippet (``Match.marks``)
is shown in «…».

An update or escalation (``Alert.kind``) adds the story: its title and start ("Story:"), what
changed, the outlets reporting it ("Reported by:") and its articles (the first ten, then "and N
more"); an escalation's first line says so loudly.
"""

from __future__ import annotations

import sys
import textwrap
from typing import TextIO

from monitor.deliver import digest_render, story
from monitor.deliver.base import clean_line, clean_text, truncate
from monitor.deliver.marks import cut, segments, snippet_marks
from monitor.deliver.settings import ConsoleSettings
from monitor.errors import DeliveryError
from monitor.model import Alert, Severity

_COLORS: dict[Severity, str] = {
    "critical": "\x1b[1;31m",
    "high": "\x1b[31m",
    "medium": "\x1b[33m",
    "low": "\x1b[36m",
}
_RESET = "\x1b[0m"
_SNIPPET_LIMIT = 1000


def render_console(alert: Alert, *, color: bool = False) -> str:
    """The alert as plain text lines, ending with a newline."""
    if alert.kind == "digest":
        return digest_render.plain(alert) + "\n"
    severity = alert.severity.upper()
    if color:
        severity = f"{_COLORS.get(alert.severity, '')}{severity}{_RESET}"
    if alert.kind == "escalation":
        kind = " !!! ESCALATION !!!"
    elif alert.kind == "update":
        kind = " UPDATE:"
    else:
        kind = "" if alert.kind == "new" else f" ({alert.kind.upper()})"
    lines = [f"[{severity}]{kind} {clean_line(alert.title)}"]
    if story.is_followup(alert):
        since = story.started(alert)
        lines.append(f"  Story:     {story.title(alert)}"
                     + (f" (since {story.when(since)})" if since else ""))
        if changed := story.changes(alert):
            lines.append(f"  Changed:   {changed}")
        lines.append(f"  Reported by: {story.outlets_line(alert)}")
    site, feed = clean_line(alert.site), clean_line(alert.feed)
    source = f"{site} (feed: {feed})" if site and feed and site != feed else (site or feed)
    lines.append(f"  Source:    {source}")
    if alert.published is not None:
        lines.append(f"  Published: {alert.published.isoformat()}")
    if alert.url:
        lines.append(f"  URL:       {clean_line(alert.url)}")
    if alert.sources and not story.is_followup(alert):
        others = ", ".join(clean_line(s) for s in alert.sources)
        lines.append(f"  Also:      {others}")
    lines.extend(_articles(alert))
    for match in alert.matches:
        lines.append(
            f"  Rule:      {clean_line(match.rule_id)} [{match.severity.upper()}]"
            f" {clean_line(match.title)}"
        )
        if match.entities:
            lines.append(f"    entities: {', '.join(clean_line(e) for e in match.entities)}")
        if match.terms:
            lines.append(f"    terms:    {', '.join(clean_line(t) for t in match.terms)}")
    snippet = _snippet(alert)
    if snippet:
        lines.append("  Snippet:")
        for paragraph in snippet.split("\n"):
            wrapped = textwrap.wrap(paragraph, width=96) or [""]
            lines.extend(f"    {line}" for line in wrapped)
    return "\n".join(lines) + "\n\n"


def _articles(alert: Alert) -> list[str]:
    """The story's articles, one or two lines each, when the alert lists them."""
    if not story.shows_articles(alert):
        return []
    shown, more = story.articles(alert)
    lines = [f"  Articles ({len(alert.articles)}):"]
    for article in shown:
        outlet = f"{article.outlet} · " if article.outlet else ""
        lines.append(f"    - {article.published} · {outlet}{truncate(article.title, 300)}")
        if article.url:
            lines.append(f"      {article.url}")
    if more:
        lines.append(f"    … and {more} more")
    return lines


def _snippet(alert: Alert) -> str:
    """The cleaned snippet, each marked span (the evidence) in «…»."""
    raw = alert.snippet[:100_000]
    marks = snippet_marks(alert)
    if not marks:
        return truncate(clean_text(raw), _SNIPPET_LIMIT)
    parts = cut(segments(raw, marks, multiline=True), _SNIPPET_LIMIT, markup=2)
    return "".join(f"«{text}»" if marked else text for text, marked in parts)


class ConsoleTarget:
    """Writes alerts to ``stream`` (``sys.stdout`` at send time when not given)."""

    def __init__(self, name: str, settings: ConsoleSettings, *,
                 stream: TextIO | None = None) -> None:
        self.name = name
        self._settings = settings
        self._stream = stream

    def send(self, alert: Alert) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(render_console(alert, color=self._settings.color))
            stream.flush()
        except UnicodeError as e:  # the stream cannot encode the text: retrying will not help
            raise DeliveryError(f"console target {self.name!r}: cannot encode the alert: {e}",
                                transient=False) from e
        except (OSError, ValueError) as e:  # closed or broken stream
            raise DeliveryError(f"console target {self.name!r}: cannot write: {e}",
                                transient=True) from e
