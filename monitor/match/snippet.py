"""The snippet of a match and the marks of its evidence in it.

The snippet is the scope (a sentence, or the sentences of a window) with white space collapsed.
When that is longer than :data:`SNIPPET_LIMIT` it is cut on word boundaries to a passage that holds
all the evidence if it fits, else one centred on the strongest hit, with "…" where text was left
out. The marks are the spans of the evidence inside the snippet (offsets into it), sorted, with
overlapping ones merged; evidence that was cut out has no mark.
"""

from __future__ import annotations

from collections.abc import Sequence

SNIPPET_LIMIT = 300
ELLIPSIS = "…"

Span = tuple[int, int]


def _squash(text: str, start: int, end: int) -> tuple[str, dict[int, int]]:
    """``text[start:end]`` with white space runs made one space and the edges trimmed, and the
    offset in the result of every character kept."""
    out: list[str] = []
    where: dict[int, int] = {}
    space = False
    for i in range(start, end):
        ch = text[i]
        if ch.isspace():
            space = bool(out)
            continue
        if space:
            out.append(" ")
            space = False
        where[i] = len(out)
        out.append(ch)
    return "".join(out), where


def _window(text: str, lo: int, hi: int, spans: Sequence[Span], focus: Span) -> Span:
    """A stretch of ``text[lo:hi]`` of at most ``SNIPPET_LIMIT - 2`` characters, cut on white
    space, around the evidence (or its strongest hit when the evidence is too wide)."""
    room = SNIPPET_LIMIT - 2  # an ellipsis at each end
    ev_lo = min(s for s, _ in spans)
    ev_hi = max(e for _, e in spans)
    if ev_hi - ev_lo > room:
        ev_lo, ev_hi = focus
        if ev_hi - ev_lo > room:
            ev_hi = ev_lo + room
    start = max(lo, ev_lo - (room - (ev_hi - ev_lo)) // 2)
    end = min(hi, start + room)
    start = max(lo, end - room)
    while lo < start < ev_lo and not text[start - 1].isspace():
        start += 1
    while ev_hi < end < hi and not text[end].isspace():
        end -= 1
    return start, end


def cut(
    text: str, lo: int, hi: int, spans: Sequence[Span], focus: Span
) -> tuple[str, tuple[Span, ...]]:
    """The snippet of ``text[lo:hi]`` for the evidence ``spans`` (offsets into ``text``), and the
    marks of the evidence in it."""
    piece, where = _squash(text, lo, hi)
    prefix = suffix = ""
    if len(piece) > SNIPPET_LIMIT and spans:
        start, end = _window(text, lo, hi, spans, focus)
        piece, where = _squash(text, start, end)
        prefix = ELLIPSIS if start > lo and piece else ""
        suffix = ELLIPSIS if end < hi and piece else ""
        piece = (prefix + piece + suffix)[:SNIPPET_LIMIT]
    shift = len(prefix)
    marks: list[Span] = []
    for s, e in sorted(spans):
        if s not in where or e - 1 not in where:
            continue
        a, b = where[s] + shift, where[e - 1] + 1 + shift
        if b > len(piece) - len(suffix):
            continue
        if marks and a <= marks[-1][1]:
            marks[-1] = (marks[-1][0], max(marks[-1][1], b))
        else:
            marks.append((a, b))
    return piece, tuple(marks)
