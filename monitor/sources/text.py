"""Feed HTML → plain text. Feed text is data: tags dropped, entities decoded, space folded."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote"}
_SKIP = {"script", "style", "template", "noscript"}
# C0 and C1 controls (C1 holds the 8-bit CSI, \x9b), bidi overrides and isolates, and unpaired
# surrogates (a JSON "\ud800" or an XML &#xD800; decodes to one; no UTF-8 can hold it).
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SPACE = re.compile(r"\s+")
_CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self.skip:
            self.skip -= 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:  # a line break in the source is a space: only blocks break lines
            self.parts.append(_SPACE.sub(" ", data))


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: paragraphs kept as lines, runs of space folded."""
    if "<" not in html and "&" not in html:
        text = html
    else:
        parser = _Text()
        parser.feed(html)
        parser.close()
        text = "".join(parser.parts)
    text = _CONTROL.sub("", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def clean_text(value: str) -> str:
    """An identifier (guid, URL) as stored: controls, line breaks and unpaired surrogates
    dropped, outer space stripped; always encodable as UTF-8."""
    return _CONTROL_OR_BREAK.sub("", value).strip()
