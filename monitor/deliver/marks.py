"""The marks of a snippet (``Match.marks``: spans of the evidence) as segments a target renders.

The snippet is feed text, so it is cleaned (:func:`~monitor.deliver.base.clean_line` or
``clean_text``) before it is shown, and cleaning moves offsets. The mark boundaries are therefore
carried through the cleaning as two private-use characters (any already in the text are replaced
first, one for one, so the offsets still hold), then turned into ``(text, marked)`` segments.
Each target adds its own markup around the marked segments, after escaping the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monitor.deliver.base import ELLIPSIS, clean_line, clean_text, grapheme_floor
from monitor.model import Alert

Segment = tuple[str, bool]  # (text, marked)
_OPEN, _CLOSE = "\ue000", "\ue001"
_SENTINELS = {ord(_OPEN): "\ufffd", ord(_CLOSE): "\ufffd"}


def snippet_marks(alert: Alert) -> tuple[tuple[int, int], ...]:
    """The marks of the match whose snippet the alert shows (none when no match has it)."""
    for match in alert.matches:
        if match.snippet == alert.snippet and match.marks:
            return match.marks
    return ()


def _spans(marks: Sequence[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Marks clipped to the text, sorted, overlapping ones merged, empty ones dropped."""
    spans: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(size, e)) for s, e in marks):
        if start >= end:
            continue
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def segments(snippet: str, marks: Sequence[tuple[int, int]], *,
             multiline: bool = False) -> list[Segment]:
    """The cleaned snippet as alternating plain and marked segments (no empty ones; white space
    at the edges of a mark is moved out of it)."""
    text = snippet.translate(_SENTINELS)
    pieces, last = [], 0
    for start, end in _spans(marks, len(text)):
        pieces += [text[last:start], _OPEN, text[start:end], _CLOSE]
        last = end
    pieces.append(text[last:])
    cleaned = (clean_text if multiline else clean_line)("".join(pieces))
    out: list[Segment] = []
    marked = False
    chunk: list[str] = []

    def flush() -> None:
        piece = "".join(chunk)
        chunk.clear()
        if marked:
            core = piece.strip()
            if core:
                lead = piece[: len(piece) - len(piece.lstrip())]
                trail = piece[len(piece.rstrip()):]
                _add(out, lead, False)
                _add(out, core, True)
                _add(out, trail, False)
                return
        _add(out, piece, False)  # plain text, or a mark of white space only

    for ch in cleaned:
        if ch in (_OPEN, _CLOSE):
            flush()
            marked = ch == _OPEN  # an unbalanced boundary (lost in an escape) is harmless
        else:
            chunk.append(ch)
    flush()
    return _tidy(out)


def _tidy(parts: list[Segment]) -> list[Segment]:
    """No white space at either end (cleaning stripped the ends, but a boundary may have
    stood in the way)."""
    out: list[Segment] = []
    for text, marked in parts:
        _add(out, text, marked)
    if out:
        out[0] = (out[0][0].lstrip(), out[0][1])
        out[-1] = (out[-1][0].rstrip(), out[-1][1])
    return [(t, m) for t, m in out if t]


def _add(out: list[Segment], text: str, marked: bool) -> None:
    if out and out[-1][0].endswith(" ") and text.startswith(" "):
        text = text.lstrip(" ")  # the boundary kept cleaning from joining two spaces
    if not text:
        return
    if out and out[-1][1] == marked:
        out[-1] = (out[-1][0] + text, marked)
    else:
        out.append((text, marked))


def cut(parts: list[Segment], limit: int, *, width: Callable[[str], int] = len,
        markup: int = 0) -> list[Segment]:
    """``parts`` shortened so that their text, measured by ``width`` per character, plus
    ``markup`` characters per marked segment, fits in ``limit``; a cut falls on a character
    cluster boundary and ends in "…" (unmarked)."""
    def size(items: list[Segment]) -> int:
        return sum(sum(width(ch) for ch in t) + (markup if m else 0) for t, m in items)

    if size(parts) <= limit:
        return parts
    budget = limit - len(ELLIPSIS)
    joined = "".join(t for t, _ in parts)
    kept = used = 0
    for text, marked in parts:  # how many characters fit, the markup of each mark counted
        used += markup if marked else 0
        fits = True
        for ch in text:
            used += width(ch)
            if used > budget:
                fits = False
                break
            kept += 1
        if not fits:
            break
    kept = len(joined[: grapheme_floor(joined, kept)].rstrip())
    out: list[Segment] = []
    pos = 0
    for text, marked in parts:
        if pos >= kept:
            break
        take = text[: kept - pos]
        pos += len(text)
        _add(out, take.rstrip() if marked else take, marked)
    _add(out, ELLIPSIS, False)
    return out
