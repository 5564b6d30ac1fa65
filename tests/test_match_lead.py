"""The places an article's headline and lede name (monitor.match.lead), datelines left out."""

from __future__ import annotations

from functools import cache

from monitor.match import RuleSet, lead
from monitor.match.examples import example_article
from monitor.match.lead import LEDE_WORDS
from tests.test_dedup_stories import rules


@cache
def ruleset() -> RuleSet:
    return rules()


def places(title: str, text: str) -> set[str]:
    return set(lead(example_article(text, title), ruleset()).places)


def test_the_lede_names_the_province_the_headline_leaves_out() -> None:
    found = places("Roadside bomb targets coalition supply convoy in south Iraq",
                   "A roadside bomb exploded as a convoy passed through the southern Iraqi "
                   "province of Dhi Qar on Wednesday, a security source told AFP.\n"
                   "Dozens of such attacks have targeted convoys in Babil and Diwaniyah.")
    # the second paragraph is background: its provinces are not the lead's
    assert found == {"Southern Iraq", "Dhi Qar province (Nasiriyah)"}


def test_a_wire_dateline_names_where_the_story_was_filed() -> None:
    for dateline in ("BAGHDAD, May 27 (Reuters) - ", "ERBIL, Kurdistan Region — ",
                     "Baghdad (AFP) - ", "Shafaq News/ "):
        found = places("Roadside bomb hits supply convoy",
                       f"{dateline}A roadside bomb struck a convoy of trucks carrying supplies "
                       "for the coalition in Babil province on Wednesday.")
        assert found == {"Babil province"}, dateline
    for dateline in ("بغداد - 27 أيار: ", "بغداد (رويترز) - ", "بغداد/ شفق نيوز/ ",
                     "أربيل - "):
        found = places("", f"{dateline}انفجرت عبوة ناسفة على رتل ينقل معدات التحالف الدولي في "
                           "محافظة بابل صباح اليوم الأربعاء.")
        assert found == {"Babil province"}, dateline
    # an Arabic sentence naming a place in its opening words, with no dash, is no dateline
    assert places("", "أفاد مصدر أمني في بغداد بسقوط صواريخ على قاعدة فكتوريا قرب المطار "
                      "مساء اليوم.") == {"Baghdad"}
    # a sentence that starts with a place, or with an acronym in capitals, is no dateline
    found = places("", "Rockets hit Erbil - the second attack in a week - and wounded two "
                       "contractors, officials said.")
    assert found == {"Erbil"}
    found = places("", "ISIS fighters near Mayadin - a town on the Euphrates - ambushed a "
                       "patrol of US troops, the coalition said.")
    assert found == {"Deir ez-Zor"}


def test_a_short_first_line_is_chrome_and_the_lede_follows_it() -> None:
    text = ("بغداد اليوم - بابل\n"
            "كشف مصدر أمني، اليوم الأربعاء، عن استهداف رتل للدعم اللوجستي تابع للتحالف الدولي "
            "بعبوة ناسفة على الطريق الدولي قرب مدينة الحلة.\n"
            "وتتعرض الأرتال لهجمات في محافظة المثنى.")
    assert len("بغداد اليوم - بابل".split()) < LEDE_WORDS
    result = lead(example_article(text, ""), ruleset())
    assert set(result.places) == {"Babil province"}  # Hilla, not the outlet's "Baghdad"
    assert text[: result.lede_end].endswith("الحلة.")


def test_towns_count_as_their_province() -> None:
    assert places("US strikes hit militia sites near Albu Kamal and al-Qaim", "") == {
        "Deir ez-Zor", "Anbar province"}
    # the Al Mayadeen channel is not the town of Mayadin
    assert places("Al Mayadeen reports strikes", "قالت قناة الميادين إن الضربات استهدفت "
                  "مواقع عدة في المنطقة الحدودية بين البلدين يوم الأحد.") == set()
