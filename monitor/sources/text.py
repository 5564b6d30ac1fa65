"""Feed HTML → plain text. Feed text is data: tags dropped, entities decoded, space folded."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote"}
_SKIP = {"script", "style", "template", "noscript"}
# C0 and C1 controls (C1 holds the 8-bit CSI, \x9b) and bidi overrides and isolates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


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
        if not self.skip:
            self.parts.append(data)


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
