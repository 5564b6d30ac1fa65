"""Render an alert as a Slack incoming-webhook payload (Block Kit).

Escaping: Slack's mrkdwn needs only ``&``, ``<`` and ``>`` escaped (as ``&amp;`` ``&lt;``
``&gt;``); it decodes nothing else, so we escape those three, once, at the point each
feed-derived string is placed in mrkdwn (section, context and the ``text`` fallback). A title
``<!channel>`` is then shown literally and notifies no one; ``<http://evil|click>`` is not a link.
The header block is ``plain_text``, which Slack shows literally (no mentions, no links), so it is
cleaned of controls but not entity-escaped. ``link_names`` is never set; unfurling is off.

The evidence in the snippet (``Match.marks``) is set in bold, ``*…*``; see ``_snippet`` for how
an asterisk in the feed text is kept from pairing with ours.

An update or escalation (``Alert.kind``) is headed ``UPDATE · HIGH: <story title>`` or
``ESCALATION · CRITICAL: <story title>``, followed by a section naming the story (title, when it
was first seen, what changed, the outlets reporting it; an escalation under a siren) and, as for
a new alert that already groups several, a section listing the story's articles (each title
linked, its outlet and time; the first ten, then "and N more", within the section limit).

A digest (``kind="digest"``) is headed ``DIGEST · HIGH: news-monitor digest: N alerts since …``,
then the counts by severity, then one line per collected alert (severity, kind, linked title,
outlet, time) in as many sections as fit, and "and N more" for the rest.

Limits (Block Kit): header ≤ 150 characters, section text ≤ 3000, ≤ 50 blocks. Cuts fall on
character-cluster boundaries, never inside an escape such as ``&amp;``, and end in "…".
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from monitor.deliver import digest, story
from monitor.deliver.base import ELLIPSIS, clean_line, grapheme_floor, truncate
from monitor.deliver.marks import cut, segments, snippet_marks
from monitor.model import Alert, Match

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
TEXT_LIMIT = 3000
MAX_BLOCKS = 50
DIGEST_TEXT_LIMIT = 36_000  # characters of a digest's items, within Slack's 40 000 in all
_LABEL_LIMIT = 300
_MATCH_LINE_LIMIT = 600
_URL_LIMIT = 2000

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ZWSP = "\u200b"


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for Slack mrkdwn; nothing else."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def escape_truncate(text: str, limit: int) -> str:
    """``escape(text)`` cut so that the *escaped* form fits in ``limit`` characters."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    budget = limit - len(ELLIPSIS)
    used = keep = 0
    for i, ch in enumerate(text):
        width = len(_ESCAPES.get(ch, ch))
        if used + width > budget:
            break
        used += width
        keep = i + 1
    keep = grapheme_floor(text, keep)
    return escape(text[:keep].rstrip()) + ELLIPSIS


def link_url(url: str | None) -> str | None:
    """An http(s) URL made safe to sit inside ``<…|…>``, or None when it should not be linked."""
    url = clean_line(url)
    if not url or len(url) > _URL_LIMIT:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    url = re.sub(r"[\s<>|\"`]", lambda m: quote(m.group(), safe=""), url)
    return url.replace("&", "&amp;")


def _link(url: str | None, title: str, limit: int = _LABEL_LIMIT) -> str:
    label = clean_line(title).replace("|", "¦") or "(untitled)"
    target = link_url(url)
    if target is None:
        return escape_truncate(label, limit)
    return f"<{target}|{escape_truncate(label, limit)}>"


def _when(moment: datetime | None) -> str:
    return story.when(moment)


def _severity(alert: Alert) -> str:
    if label := story.kind_label(alert):
        return f"{label} · {alert.severity.upper()}"
    kind = "" if alert.kind == "new" else f" {alert.kind.upper()}"
    return f"{alert.severity.upper()}{kind}"


def _outlet(alert: Alert) -> str:
    site, feed = clean_line(alert.site), clean_line(alert.feed)
    if site and feed and site != feed:
        return f"{site} (feed {feed})"
    return site or feed or "unknown outlet"


def _match_line(match: Match) -> str:
    head = (f"• *{escape_truncate(clean_line(match.rule_id), 120)}* "
            f"({match.severity.upper()}) {escape_truncate(clean_line(match.title), 200)}")
    details = []
    if match.entities:
        details.append("entities: " + ", ".join(clean_line(e) for e in match.entities))
    if match.terms:
        details.append("terms: " + ", ".join(clean_line(t) for t in match.terms))
    if details:
        head += "\n      " + escape_truncate(" · ".join(details), _MATCH_LINE_LIMIT)
    return head


def _matches_text(matches: tuple[Match, ...]) -> str:
    lines = ["*Matched rules*"]
    size = len(lines[0])
    room = SECTION_LIMIT - 40  # keeps room for the "… and N more" line
    for i, match in enumerate(matches):
        line = _match_line(match)
        if size + 1 + len(line) > room:
            lines.append(f"{ELLIPSIS} and {len(matches) - i} more")
            break
        lines.append(line)
        size += 1 + len(line)
    if not matches:
        lines.append("(none)")
    return "\n".join(lines)


def _snippet(alert: Alert) -> str:
    """The snippet, escaped and cut to fit its section; the evidence (``Match.marks``) in bold.

    With marks, every ``*`` of the feed text becomes ``∗`` (U+2217), so the only asterisks left
    are the pairs we add; a mark that touches a letter or digit outside it is set off with a
    zero-width space, without which Slack would not see the asterisk as a boundary."""
    raw = alert.snippet[:100_000]
    marks = snippet_marks(alert)
    if not marks:
        return escape_truncate(clean_line(raw), SECTION_LIMIT - 2)
    parts = cut(segments(raw.replace("*", "∗"), marks), SECTION_LIMIT - 2,
                width=lambda ch: len(_ESCAPES.get(ch, ch)), markup=2 + 2 * len(_ZWSP))
    out = []
    for i, (text, marked) in enumerate(parts):
        if not marked:
            out.append(escape(text))
            continue
        before = _ZWSP if i > 0 and parts[i - 1][0][-1:].isalnum() else ""
        after = _ZWSP if i + 1 < len(parts) and parts[i + 1][0][:1].isalnum() else ""
        out.append(f"{before}*{escape(text)}*{after}")
    return "".join(out)


def _story_text(alert: Alert) -> str:
    """The story an update or escalation belongs to, and what changed."""
    since = story.started(alert)
    what = "Escalation of" if alert.kind == "escalation" else "Update to"
    lines = [(":rotating_light: " if alert.kind == "escalation" else "")
             + f"*{what} story #{alert.story_id}*"
             + (f" · first seen {_when(since)}" if since else ""),
             f"*{escape_truncate(story.title(alert), _LABEL_LIMIT)}*"]
    if changed := story.changes(alert):
        lines.append(f"*What changed:* {escape_truncate(changed, 600)}")
    if outlets := story.outlets_line(alert):
        lines.append(f"*Reported by:* {escape_truncate(outlets, 1200)}")
    return "\n".join(lines)


def _articles_text(alert: Alert) -> str:
    """The story's articles, first first: linked title, outlet, time; capped to fit."""
    shown, more = story.articles(alert)
    lines = [f"*Articles in this story ({len(alert.articles)})*"]
    size = len(lines[0])
    room = SECTION_LIMIT - 40  # keeps room for the "… and N more" line
    for i, article in enumerate(shown):
        outlet = f" — {escape_truncate(article.outlet, 100)}" if article.outlet else ""
        line = f"• {_link(article.url, article.title, 200)}{outlet} · {article.published}"
        if size + 1 + len(line) > room:
            more += len(shown) - i
            break
        lines.append(line)
        size += 1 + len(line)
    if more:
        lines.append(f"{ELLIPSIS} and {more} more")
    return "\n".join(lines)


def _text(kind: str, text: str) -> dict[str, Any]:
    return {"type": kind, "text": text}


def _digest_line(item: digest.ShownItem) -> str:
    label = f" {item.label}:" if item.label else ""
    outlet = f" — {escape_truncate(item.outlet, 100)}" if item.outlet else ""
    return f"• *{item.severity}*{label} {_link(item.url, item.title, 200)}{outlet} · " \
           f"{item.published}"


def render_digest(alert: Alert) -> dict[str, Any]:
    """A digest: a header, the counts, then the collected alerts, one line each, in sections
    that keep every limit (the rest as "and N more")."""
    header = truncate(f"DIGEST · {alert.severity.upper()}: {clean_line(alert.title)}",
                      HEADER_LIMIT)
    counts = escape_truncate(clean_line(alert.snippet), 1000)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
        {"type": "section", "text": _text("mrkdwn", counts)},
    ]
    shown, more = digest.items(alert, len(alert.items))
    total = len(header) + len(counts)
    room = SECTION_LIMIT - 40
    lines: list[str] = []
    size = 0  # of the section being filled
    for i, item in enumerate(shown):
        line = _digest_line(item)
        full = lines and size + len(line) > room
        # a full section needs room for itself, the next one and the "and N more" context
        if total + len(line) > DIGEST_TEXT_LIMIT or (full and len(blocks) + 3 > MAX_BLOCKS):
            more += len(shown) - i
            break
        if full:
            blocks.append({"type": "section", "text": _text("mrkdwn", "\n".join(lines))})
            lines, size = [], 0
        lines.append(line)
        size += len(line) + 1
        total += len(line) + 1
    if lines:
        blocks.append({"type": "section", "text": _text("mrkdwn", "\n".join(lines))})
    if more:
        blocks.append({"type": "context",
                       "elements": [_text("mrkdwn", f"{ELLIPSIS} and {more} more")]})
    return {"text": escape_truncate(f"{header} — {clean_line(alert.snippet)}", TEXT_LIMIT),
            "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def render_slack(alert: Alert) -> dict[str, Any]:
    """The JSON-ready payload for an incoming webhook."""
    if alert.kind == "digest":
        return render_digest(alert)
    severity = _severity(alert)
    followup = story.is_followup(alert)
    title = clean_line(alert.title) or "(untitled)"
    headline = story.title(alert) if followup else title
    header = truncate(f"{severity}: {headline}", HEADER_LIMIT)
    summary = (("*Latest report:* " if followup else "") + f"*{_link(alert.url, title)}*\n"
               f"{escape_truncate(_outlet(alert), 300)} · {_when(alert.published)}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
    ]
    if followup:
        blocks.append({"type": "section", "text": _text("mrkdwn", _story_text(alert))})
    blocks.append({"type": "section", "text": _text("mrkdwn", summary)})
    if story.shows_articles(alert):
        blocks.append({"type": "section", "text": _text("mrkdwn", _articles_text(alert))})
    blocks.append({"type": "section", "text": _text("mrkdwn", _matches_text(alert.matches))})
    snippet = _snippet(alert)
    if snippet:
        blocks.append({"type": "section", "text": _text("mrkdwn", "> " + snippet)})
    context = [f"story #{alert.story_id}"] if alert.story_id else ["news-monitor"]
    if alert.sources and not followup:
        context.append("also: " + ", ".join(clean_line(s) for s in alert.sources))
    blocks.append({"type": "context",
                   "elements": [_text("mrkdwn", escape_truncate(" · ".join(context), 1000))]})
    tail = (story.changes(alert) or story.outlets_line(alert)) if followup else _outlet(alert)
    fallback = escape_truncate(f"{severity}: {headline} — {tail}", TEXT_LIMIT)
    return {
        "text": fallback,
        "blocks": blocks[:MAX_BLOCKS],
        "unfurl_links": False,
        "unfurl_media": False,
    }
