"""The message of an alert e-mail: its Subject, its two bodies (plain text, HTML), its headers
and ids (``build_message``); ``mail`` sends it.

Subject: ``[HIGH] <title>`` for a new alert; ``[UPDATE] [HIGH] <story title>`` and
``[ESCALATION] [CRITICAL] <story title>`` for the later alerts of a story (threaded under its
first alert, see Threading). Every control character and line separator of the feed text becomes a
space, and every ``=?`` is broken with a word joiner, so a title can neither split the header
nor smuggle an RFC 2047 encoded newline.

Bodies: an update or escalation starts with the story (title, first seen, what changed, the
outlets reporting it), then the latest report, then the story's articles (each title linked,
its outlet and time; the first 25, then "and N more"), the matched rules and the snippet. In
the HTML part every feed string is escaped with ``html.escape``; only http(s) links are made and
nothing is loaded from anywhere (no images, no styles from outside).

Headers: we encode and fold the Subject ourselves. ``build_message`` generates the message and
parses it back, and refuses it unless the header set is exactly the one built and the Subject
and the ids read back unchanged. (This Python, 3.11.7, predates the CVE-2024-6923 fix, so none
of this relies on the library refusing line breaks.)

Threading: the ids are stable across retries, and no feed text reaches them.

- ``new`` (a story's first alert): ``Message-ID`` is
  ``<story-{story_id}-{first 12 hex of sha256(target name)}@news-monitor>``, derived from the
  story and the target alone.
- ``update`` / ``escalation``: ``Message-ID`` is ``<key@news-monitor>`` (``Alert.key``), and
  ``In-Reply-To`` and ``References`` are the story's first id above, so mail readers thread
  them under the first alert.
- ``operator``: ``<key@news-monitor>``, no thread.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime

from monitor.deliver import digest_render, story
from monitor.deliver.base import clean_line, clean_text, truncate
from monitor.deliver.marks import Segment, cut, segments, snippet_marks
from monitor.deliver.settings import EmailSettings
from monitor.errors import DeliveryError
from monitor.model import Alert

SUBJECT_LIMIT = 200
SNIPPET_LIMIT = 5000
ARTICLES_SHOWN = 25
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HEADER_NAMES = ("Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted",
                 "MIME-Version", "Content-Type")
_THREAD_HEADERS = ("In-Reply-To", "References")
_UNSAFE_ADDRESS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029,;<>\"()\\]")


def subject(alert: Alert) -> str:
    """``[SEVERITY] title`` (``[UPDATE] [SEVERITY] story title`` for a follow-up): one line,
    ≤ 200 characters, no encoded-word lookalikes."""
    if alert.kind == "digest":
        return truncate(digest_render.subject(alert), SUBJECT_LIMIT).replace("=?", "=\u2060?")
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
    if alert.kind == "digest":
        return digest_render.mail_plain(alert)
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
    if not label and alert.story_id:
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
    if alert.kind == "digest":
        return digest_render.mail_html(alert)
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
    if not label and alert.story_id:
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


# --- the whole message: headers, ids, the round-trip check ------------------------------------


def message_id(key: str) -> str:
    """``<key@news-monitor>``, the key reduced to safe characters (plus a digest if it changed)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", key)[:100]
    if safe != key:
        safe += "-" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:12]
    return f"<{safe}@news-monitor>"


def story_message_id(story_id: int, target: str) -> str:
    """The Message-ID of a story's first alert to a target: from the story and the target
    name alone, so a later alert of the story can refer to it."""
    digest = hashlib.sha256(target.encode("utf-8", "replace")).hexdigest()[:12]
    return f"<story-{int(story_id)}-{digest}@news-monitor>"


def thread_ids(alert: Alert) -> tuple[str, str | None]:
    """``(Message-ID, parent)``: a new alert is the story's first message; an update or an
    escalation has its own id (from its key) and replies to the first; an operator notice
    stands alone."""
    if alert.kind == "new":
        return story_message_id(alert.story_id, alert.target), None
    if story.is_followup(alert):
        return message_id(alert.key), story_message_id(alert.story_id, alert.target)
    return message_id(alert.key), None


def build_message(alert: Alert, settings: EmailSettings, *,
                  now: datetime | None = None) -> EmailMessage:
    """The message, checked by a generate-and-parse round trip (permanent error if it fails)."""
    for address in (settings.sender, *settings.recipients):
        if not address or _UNSAFE_ADDRESS.search(address):
            raise DeliveryError("email: a configured address holds characters that are not "
                                "allowed in a plain address", transient=False)
    msg = EmailMessage(policy=email.policy.SMTP)
    title = subject(alert)
    msg.set_raw("Subject", _encoded_subject(title))
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    own, parent = thread_ids(alert)
    msg["Message-ID"] = own
    if parent is not None:
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(plain_body(alert), cte="quoted-printable")
    msg.add_alternative(html_body(alert), subtype="html", cte="quoted-printable")
    _check_round_trip(msg, title, own, parent)
    return msg


def _encoded_subject(title: str) -> str:
    """The Subject value, folded and RFC 2047-encoded by us.

    The modern header folder of Python 3.11 drops the space between two encoded words when it
    folds a long non-ASCII subject (the words run together on the reader's side), so the value
    is encoded with ``email.header.Header`` into lines short enough to be emitted unchanged.
    """
    charset = "us-ascii" if title.isascii() else "utf-8"
    return Header(title, charset, header_name="Subject", maxlinelen=76).encode(linesep="\r\n")


def _check_round_trip(msg: EmailMessage, title: str, own: str, parent: str | None) -> None:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    names = sorted(k.lower() for k in parsed.keys())
    expected = sorted(k.lower() for k in _HEADER_NAMES + (_THREAD_HEADERS if parent else ()))
    ids_ok = str(parsed["Message-ID"]) == own and all(
        str(parsed[h]) == parent for h in (_THREAD_HEADERS if parent else ()))
    if names != expected or str(parsed["Subject"]) != title or not ids_ok:
        raise DeliveryError("email: refusing to send a message whose headers do not survive "
                            "a generate-and-parse round trip", transient=False)
