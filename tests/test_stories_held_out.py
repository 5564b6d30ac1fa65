"""Story grouping on eight more blind sets (tests/data/stories/README.md), replayed as the daemon
decides (`monitor replay --max-age 3d`): every event alerts, and duplicate alerts and stories
holding two events stay at most what they were when these sets were last measured."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from tests.conftest import DATA
from tests.test_cli_replay import replay

# file: (events that never alert, at most this many duplicate alerts, at most this many stories
# holding two events or more)
FLOORS = {
    "blind-2026-11-22-set2.jsonl": (set(), 0, 0),
    "held-out-2019-2021.jsonl": (set(), 2, 0),
    # H02/H03: Reuters' report of the second attack on Ain al-Asad, a day later, says nothing of
    # a repeat and joins the first
    # H14: Nujaba's statement on its commander's killing reads as the US strike ("عدوان أمريكي"),
    # the first report of it as an attack (its background), so the two open a story each
    "held-out-2022-2025.jsonl": (set(), 3, 1),
    # E15: the US strike that killed Nujaba's commander, alerted first by Nujaba's statement on
    # it ("…إثر عدوان أمريكي", labelled E16, the threat that names no target); E17: Lebanon's
    # Hezbollah, which must never alert. 2 → 3 stories holding two events in the ninth session:
    # the factions' vow to answer the al-Qaim strikes (E09) joins the strikes' story (E07)
    "held-out-2019-2025.jsonl": ({"E15", "E17"}, 3, 3),
    # L05: a threat that names no target; DECOY-1: Lebanon's Hezbollah. L12/L14: Ain al-Asad on
    # two days, the second told without a repeat. Since the ninth session L05's English report
    # (the factions' vow of revenge for the US strikes) matches and joins the strikes' story
    # (L03): 1 → 2 stories holding two events
    "held-out-final-2020-2023.jsonl": ({"L05", "DECOY-1"}, 0, 2),
    # the third session's (README): A01/A02, the K-1 attack and the US strikes answering it,
    # joined by a strike report that retells the attack; A15/A17, Conoco's rockets and the US
    # response the same night
    "held-out-third-2019-2022.jsonl": ({"DECOY-1"}, 1, 2),
    "held-out-third-2023-2025.jsonl": ({"DECOY-1"}, 2, 0),
    # held out from every change of the third session; C13: a US strike on a PMF base alone,
    # which the retaliation rule leaves out
    "held-out-third-strikes.jsonl": ({"C13", "DECOY-1"}, 0, 0),
    # the fourth session's (README), held out from its story changes; D04, a US strike whose
    # Pentagon statement read as the Erbil attack it answers, alerts since the ninth session
    # (the strike rule reads its group in the next sentences)
    "held-out-fourth.jsonl": ({"DECOY-1"}, 2, 0),
    # held out from every change of the fourth session (README). F11: Green Village, joined to
    # Conoco's story of the same night by reports that retell both
    "held-out-fourth-final.jsonl": ({"F11", "DECOY-1"}, 4, 1),
    # the fifth session's (README "The same toll"): deadly attacks told many ways. G16: the
    # dignified transfer, which joins Tower 22's story; DECOY-1/2: Lebanon's Hezbollah, the
    # Houthis on a tanker. G17, US strikes naming no group in their sentence, alerts since the
    # ninth session
    "held-out-fifth.jsonl": ({"G16", "DECOY-1", "DECOY-2"}, 4, 1),
    # written after every change of the fifth session, then used in the sixth (README). 1 → 2
    # duplicates in the ninth session: H13's Arabic report now matches and joins the strikes'
    # story, after which AFP's (naming no group, only "south of Baghdad") no longer does
    "held-out-sixth.jsonl": ({"DECOY-1"}, 2, 0),
    # the sixth session's (README "Parts of a country"), written before its story changes;
    # DECOY-1/2: Lebanon's Hezbollah, the Houthis
    "held-out-seventh.jsonl": ({"DECOY-1", "DECOY-2"}, 2, 1),
    # written after the seventh was used and replayed once, at 6d75ff1 and after the places
    # and the strikes' "aggression": held out from the whole session (README)
    "held-out-eighth.jsonl": ({"DECOY-1", "DECOY-2"}, 3, 0),
    # held out from the same changes, then used (README). M12: the US strikes at Jurf
    # al-Sakhar, joined to the AC-130's strike on the night of the attack they answer
    "held-out-ninth.jsonl": ({"M12", "DECOY-1", "DECOY-2"}, 3, 1),
    # written after every other change of the sixth session, replayed at 6d75ff1 and at its
    # end, and left as measured (README)
    "held-out-tenth.jsonl": ({"DECOY-1", "DECOY-2"}, 1, 0),
    # the ninth session's, replayed on the rules of its start and after its changes, the same
    # both times (README)
    "held-out-eleventh.jsonl": ({"DECOY-1", "DECOY-2"}, 6, 1),
}


def alerts(name: str) -> tuple[set[str], set[str], int, int]:
    """(events, events alerted, duplicate alerts, stories holding two events or more)."""
    lines = (DATA / "stories" / name).read_text(encoding="utf-8").splitlines()
    reports = {r["id"]: r for r in map(json.loads, lines)}
    result = replay(lines, "-q", "--max-age", "3d")
    assert result.returncode == 0, result.stderr
    out: list[dict[str, Any]] = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["id"] for r in out} == set(reports)
    opened: dict[int, str] = {}  # story → the event of its first "new" report: what it alerts
    held: dict[int, set[str]] = defaultdict(set)
    for r in out:
        event = reports[r["id"]]["event"]
        if r["story_id"] is None:
            continue
        if not event.startswith("ROUNDUP"):
            held[r["story_id"]].add(event)
        if r["decision"] == "new":
            opened.setdefault(r["story_id"], event)
    events = {r["event"] for r in reports.values() if not r["event"].startswith("ROUNDUP")}
    duplicates = len(opened) - len(set(opened.values()))
    return events, set(opened.values()), duplicates, sum(len(e) > 1 for e in held.values())


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_every_event_alerts_about_once(name: str) -> None:
    silent, most_duplicates, most_merged = FLOORS[name]
    events, alerted, duplicates, merged = alerts(name)
    assert events - alerted == silent
    assert duplicates <= most_duplicates
    assert merged <= most_merged
