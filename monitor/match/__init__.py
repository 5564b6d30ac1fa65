"""The match stage: rule files → a compiled rule set; ``match(article, ruleset)`` → matches.

::

    load_rules(directory)  -> RuleSet        every *.yaml / *.yml under directory, or RuleError
    match(article, ruleset) -> tuple[Match]  pure; most severe first, then by rule id
    candidate(title, summary, ruleset) -> bool  could the entry match? (full_text setting)
    lead(article, ruleset) -> Lead           the places of the headline and lede (story decision)
    check_examples(ruleset) -> list[str]     one line per failing example carried by the rules
    explain(article, ruleset) -> tuple[RuleCheck]  pure; why each rule did or did not match

The rule file format is documented in ``rules/README.md``.
"""

from __future__ import annotations

from monitor.match.candidate import candidate
from monitor.match.engine import match
from monitor.match.examples import check_examples
from monitor.match.explain import PartCheck, RuleCheck, explain
from monitor.match.lead import Lead, lead
from monitor.match.load import load_rules
from monitor.match.normalise import normalise
from monitor.match.ruleset import Entity, Example, Part, Rule, RuleSet

__all__ = [
    "Entity",
    "Example",
    "Lead",
    "Part",
    "PartCheck",
    "Rule",
    "RuleCheck",
    "RuleSet",
    "candidate",
    "check_examples",
    "explain",
    "lead",
    "load_rules",
    "match",
    "normalise",
]
