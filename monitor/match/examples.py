"""Run the examples carried by the rule files: each text must match exactly the rules it expects."""

from __future__ import annotations

from monitor.match.engine import match
from monitor.match.ruleset import Example, RuleSet
from monitor.model import Article, Entry


def example_article(text: str, title: str = "") -> Article:
    """An article made of a text (and an optional title), as the examples and tests use."""
    entry = Entry(
        feed="examples", guid="example", link=None, title=title, summary="", published=None
    )
    return Article(
        entry=entry, url=None, title=title, text=text, published=None, site=None, source="summary"
    )


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check(example: Example, ruleset: RuleSet) -> str | None:
    got = {m.rule_id for m in match(example_article(example.text, example.title), ruleset)}
    want = set(example.expect)
    if got == want:
        return None
    parts = []
    if want - got:
        parts.append("missing " + ", ".join(sorted(want - got)))
    if got - want:
        parts.append("unexpected " + ", ".join(sorted(got - want)))
    return f"{example.source}: example {_short(example.text)!r}: {'; '.join(parts)}"


def check_examples(ruleset: RuleSet) -> list[str]:
    """One human-readable line per failing example; an empty list when all pass."""
    return [line for e in ruleset.examples if (line := _check(e, ruleset)) is not None]
