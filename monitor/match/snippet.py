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


class _Squashed:
    """``text[start:end]`` with white space runs made one space and the edges trimmed (``piece``),
    and where each character that is kept lands in it (:meth:`at`)."""

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text, self.start, self.end = text, start, end
        self.piece = " ".join(text[start:end].split())

    def at(self, i: int) -> int | None:
        """The offset in ``piece`` of ``text[i]``; None when it was left out (white space, or
        outside the stretch)."""
        if not self.start <= i < self.end or self.text[i].isspace():
            return None
        before = self.text[self.start : i]
        words = before.split()
        offset = len(" ".join(words))
        return offset + 1 if words and before[-1].isspace() else offset


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
    squashed = _Squashed(text, lo, hi)
    piece = squashed.piece
    prefix = suffix = ""
    if len(piece) > SNIPPET_LIMIT and spans:
        start, end = _window(text, lo, hi, spans, focus)
        squashed = _Squashed(text, start, end)
        piece = squashed.piece
        prefix = ELLIPSIS if start > lo and piece else ""
        suffix = ELLIPSIS if end < hi and piece else ""
        piece = (prefix + piece + suffix)[:SNIPPET_LIMIT]
    shift = len(prefix)
    marks: list[Span] = []
    for s, e in sorted(spans):
        first, last = squashed.at(s), squashed.at(e - 1)
        if first is None or last is None:
            continue
        a, b = first + shift, last + 1 + shift
        if b > len(piece) - len(suffix):
            continue
        if marks and a <= marks[-1][1]:
            marks[-1] = (marks[-1][0], max(marks[-1][1], b))
        else:
            marks.append((a, b))
    return piece, tuple(marks)
