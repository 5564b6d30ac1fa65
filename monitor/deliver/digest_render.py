"""A digest as text: the console, the plain and HTML parts of an e-mail, and Apprise's body.

(Slack and the webhook render a digest in ``slack_render`` and ``webhook``, next to their own
escaping.) Each collected alert is one entry: severity, kind, title, outlet, time and link; the
first :data:`SHOWN`, then "and N more". Feed text is cleaned (``digest.shown``) and, in HTML,
escaped with ``html.escape``; only http(s) links are made and nothing is loaded from anywhere.
"""

from __future__ import annotations

import html

from monitor.deliver import digest
from monitor.deliver.base import clean_line, truncate
from monitor.model import Alert

SHOWN = 200
_TITLE_LIMIT = 300


def subject(alert: Alert) -> str:
    """``[DIGEST] 12 alerts: 2 critical, 10 high``."""
    return f"[DIGEST] {clean_line(alert.snippet)}"


def plain(alert: Alert, *, indent: str = "  ") -> str:
    """The digest as numbered text lines, ending with a newline (console, mail, Apprise)."""
    shown, more = digest.items(alert, SHOWN)
    lines = [f"[{alert.severity.upper()}] (DIGEST) {clean_line(alert.title)}",
             f"{indent}{clean_line(alert.snippet)}", ""]
    for i, item in enumerate(shown, 1):
        label = f" {item.label}:" if item.label else ""
        lines.append(f"{indent}{i:>3}. [{item.severity}]{label} "
                     f"{truncate(item.title, _TITLE_LIMIT)}")
        lines.append(f"{indent}     {item.outlet + ' · ' if item.outlet else ''}"
                     f"{item.published}")
        if item.url:
            lines.append(f"{indent}     {item.url}")
    if more:
        lines.append(f"{indent}… and {more} more")
    return "\n".join(lines) + "\n"


def mail_plain(alert: Alert) -> str:
    return plain(alert) + f"\n-- \nnews-monitor digest {clean_line(alert.key)}\n"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def mail_html(alert: Alert) -> str:
    shown, more = digest.items(alert, SHOWN)
    entries = []
    for item in shown:
        title = _e(truncate(item.title, _TITLE_LIMIT))
        link = f'<a href="{_e(item.url)}">{title}</a>' if item.url else title
        label = f" {_e(item.label)}:" if item.label else ""
        outlet = f"{_e(item.outlet)} · " if item.outlet else ""
        entries.append(f"<li><b>[{_e(item.severity)}]</b>{label} {link}<br>"
                       f"{outlet}{_e(item.published)}</li>")
    tail = [f"<p>… and {more} more</p>"] if more else []
    return "\n".join([
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head><body>',
        f"<p><b>{_e(clean_line(alert.title))}</b></p>",
        f"<p>{_e(clean_line(alert.snippet))}</p>",
        f"<ol>{''.join(entries)}</ol>",
        *tail,
        "</body></html>",
    ]) + "\n"
