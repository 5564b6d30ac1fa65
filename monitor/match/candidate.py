"""Could an entry match? The test behind a feed's ``full_text = "when_candidate"``.

A feed so configured has each new entry's page fetched and extracted only when the entry's
title and feed summary, together, already hold two of the things some rule looks for: two of
its ``all`` parts, or one ``all`` part and one of its ``any`` parts (a rule that needs only one
thing: that thing). "Rockets hit Ain al-Asad" (a base, an attack word) and "Kataib Hezbollah
claims drone attack" (a militia, an attack word) are candidates; "Erbil approves the parks
budget" (a place alone) and "Drone strike reported" (an attack word alone) are not, so a feed
of regional news is not read whole for its place names. ``none`` parts count for nothing. The
words are found as :func:`monitor.match.match` finds them (the same normalisation, aliases,
folding and allowances).

What it saves and what it costs in recall on the benchmark corpus is in ``bench/README.md``
("cheap path"); an entry that is not a candidate is stored from its title and summary and is
never read again, even if the rules change.
"""

from __future__ import annotations

from monitor.match.field import FieldText
from monitor.match.ruleset import Part, Rule, RuleSet

__all__ = ["ENOUGH", "candidate"]

ENOUGH = 2  # groups of a rule found in the title and summary (fewer if the rule has fewer)


def _groups(rule: Rule) -> list[tuple[Part, ...]]:
    """What a rule needs, each group satisfied by any one of its parts: each ``all`` part, and
    the ``any`` parts together."""
    groups: list[tuple[Part, ...]] = [(part,) for part in rule.all]
    if rule.any:
        groups.append(rule.any)
    return groups


def candidate(title: str, summary: str, ruleset: RuleSet) -> bool:
    """True when ``title`` and ``summary`` hold ``ENOUGH`` groups of some rule's parts."""
    if not (title.strip() or summary.strip()):
        return False
    field = FieldText(f"{title}\n{summary}", ruleset.lexicon)  # scanned as match() scans
    for rule in ruleset.rules:
        groups = _groups(rule)
        present = sum(1 for group in groups if any(field.holds(p) for p in group))
        if groups and present >= min(ENOUGH, len(groups)):
            return True
    return False
