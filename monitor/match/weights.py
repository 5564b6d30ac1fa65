"""Weighted rules: a part's ``weight``, a rule's ``threshold``, and the score of a scope.

A rule with a ``threshold`` matches in a scope where every ``all`` part is found, no ``none``
part is, and the weights of the distinct ``all`` and ``any`` parts found there add up to at least
the threshold (each part counts once however often it is found). Without a threshold, weights
are not allowed and the rule keeps its plain meaning. Numbers are kept as exact fractions (the
decimal the file wrote), so ``0.1 + 0.2`` does reach a threshold of ``0.3``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

from monitor.match.ruleset import Part
from monitor.match.yamltree import Located, type_name

ONE = Fraction(1)


def as_number(item: Located, what: str) -> Fraction:
    """A positive, finite number (an integer or a decimal), exactly."""
    value = item.value
    number = not isinstance(value, bool) and isinstance(value, int | float)
    if not number or not math.isfinite(value) or value <= 0:
        shown = repr(value) if number or isinstance(value, str) else type_name(value)
        raise item.error(f"{what} must be a positive number, not {shown}")
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def show(number: Fraction) -> str:
    """``2``, ``2.5``: a weight, a score or a threshold as a reason line writes it."""
    return str(number.numerator) if number.denominator == 1 else f"{float(number):g}"


def score(found: Iterable[tuple[Part, Iterable[object]]]) -> Fraction:
    """The sum of the weights of the parts that have hits (each part once)."""
    return sum((part.weight for part, hits in dict(found).items() if hits), Fraction(0))


def weighed(parts: Iterable[Part]) -> str:
    """``terms: attack (2), kind: base (1)``."""
    return ", ".join(f"{part} ({show(part.weight)})" for part in parts)


def check_parts(
    rule_id: str,
    threshold: tuple[Fraction, Located],
    parts: Sequence[tuple[Part, Located]],
) -> None:
    """Load-time checks of a rule with a threshold: no part listed twice in ``all``/``any``,
    and a threshold its parts can reach."""
    seen: dict[str, Located] = {}
    for part, where in parts:
        name = str(part)
        if name in seen:
            raise where.error(
                f"rule '{rule_id}' lists part '{name}' twice (first at line "
                f"{seen[name].line}); with a threshold each part counts once"
            )
        seen[name] = where
    wanted, at = threshold
    most = sum((p.weight for p, _ in parts), Fraction(0))
    if most < wanted:
        raise at.error(
            f"rule '{rule_id}' can never reach threshold {show(wanted)}: "
            f"its parts weigh {show(most)} at most"
        )

