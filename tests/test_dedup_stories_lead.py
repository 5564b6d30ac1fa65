"""The story decision reads where the headline and lede place the event (monitor.match.lead)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.dedup.stories import NO_LEAD, assign
from monitor.match import match
from monitor.model import Article
from tests.test_dedup_stories import THU, Pipeline, article, convoy, convoy_in_arabic, kinds, rules


def afp_south_iraq() -> Article:
    return article("afp", "Roadside bomb targets coalition supply convoy in south Iraq",
                   "A roadside bomb exploded as a convoy carrying equipment for the US-led "
                   "coalition passed through the southern Iraqi province of Diwaniyah on "
                   "Thursday, a security source told AFP.\n"
                   "Dozens of such attacks have targeted supply convoys since the start of the "
                   "year.", THU + timedelta(hours=1), "AFP")


def test_a_headline_naming_only_the_country_joins_by_the_ledes_province() -> None:
    # the rule matches in the headline ("…in south Iraq"); the lede names the province
    p = Pipeline().feed([convoy_in_arabic(), afp_south_iraq()])
    assert p.grouping() == {frozenset({"sumaria", "afp"})}
    assert "same place (Diwaniyah (Qadisiyah province)" in p.decisions["afp"].reason


def test_without_the_lede_the_country_alone_does_not_join() -> None:
    p = Pipeline().feed([convoy_in_arabic()])
    a = afp_south_iraq()
    decided = assign(a, match(a, rules()), list(p.views.values()), THU + timedelta(hours=2),
                     kinds=kinds(), lead=NO_LEAD)
    assert decided is not None and decided.story_id is None


def k24_salahuddin() -> Article:
    return article("k24", "IED strikes Coalition supply convoy in Iraq's Salahuddin province",
                   "ERBIL (Kurdistan 24) – A roadside bomb struck a convoy carrying logistical "
                   "supplies for the US-led Coalition in Salahuddin province on Thursday "
                   "evening, an Iraqi security source said.\n"
                   "Earlier on Thursday, another Coalition convoy was hit by an improvised "
                   "explosive device in the southern province of Muthanna. A group calling "
                   "itself Ashab al-Kahf claimed responsibility for that attack.",
                   THU + timedelta(hours=9), "Kurdistan 24")


def claim_in_muthanna() -> Article:
    return article("kahf", "Ashab al-Kahf claims IED attack on US supply convoy in Muthanna",
                   "The group Ashab al-Kahf said on Thursday its fighters targeted a convoy "
                   "carrying supplies for the US-led coalition with an explosive device in "
                   "Muthanna province.", THU + timedelta(hours=3), "Sabereen")


def test_a_later_paragraph_about_another_province_lends_the_story_no_names() -> None:
    # the background names the group and province of the morning's attack: the report of the
    # evening's attack in Salahuddin joins Salahuddin's story, not the claim's
    evening = convoy("ina", "Salahuddin", THU + timedelta(hours=8))
    p = Pipeline().feed([claim_in_muthanna(), evening, k24_salahuddin()])
    assert p.grouping() == {frozenset({"kahf"}), frozenset({"ina", "k24"})}
    assert "Ashab al-Kahf" not in p.decisions["k24"].groups
    # read without its lead, the background's names carry the report into the claim's story
    q = Pipeline().feed([claim_in_muthanna(), evening])
    a = k24_salahuddin()
    decided = assign(a, match(a, rules()), list(q.views.values()), THU + timedelta(hours=10),
                     kinds=kinds(), lead=NO_LEAD)
    assert decided is not None and decided.story_id == q.story["kahf"]


SAT = datetime(2020, 1, 4, 15, 0, tzinfo=UTC)  # Saturday 4 January 2020


def test_a_base_named_after_a_lead_about_another_base_is_another_event() -> None:
    embassy = article("afp", "Rockets hit Baghdad's Green Zone near US embassy",
                      "Two Katyusha rockets landed inside Baghdad's Green Zone near the US "
                      "embassy on Saturday evening, security sources said.\n"
                      "Separately, two rockets struck Balad air base north of Baghdad, which "
                      "hosts US contractors, the sources said.", SAT, "AFP")
    balad = article("rudaw", "Rockets strike Balad air base north of Baghdad",
                    "Two Katyusha rockets struck Balad Air Base in Salahuddin province on "
                    "Saturday evening, Iraq's Security Media Cell said.", SAT + timedelta(hours=2),
                    "Rudaw")
    p = Pipeline().feed([embassy, balad])
    assert p.grouping() == {frozenset({"afp"}), frozenset({"rudaw"})}
    assert "Balad Air Base" not in p.decisions["afp"].sites
    # read without its lead, the embassy report's story takes Balad, and the Balad report joins
    q = Pipeline().feed([embassy])
    q.views[1] = replace(q.views[1], sites=q.views[1].sites | {"Balad Air Base"})
    decided = assign(balad, match(balad, rules()), list(q.views.values()),
                     SAT + timedelta(hours=3), kinds=kinds(), lead=NO_LEAD)
    assert decided is not None and decided.story_id == 1


TAJI_WED = datetime(2020, 3, 11, 18, 0, tzinfo=UTC)


def taji() -> Article:
    return article("reuters", "Rockets hit Iraq's Camp Taji, killing two Americans and a Briton",
                   "About 15 rockets struck Camp Taji north of Baghdad on Wednesday, killing two "
                   "US service members and a British soldier, officials said.", TAJI_WED,
                   "Reuters")


def after_taji(title: str, lede: str, retold: str, hours: int) -> Pipeline:
    """The Taji attack, then the Pentagon's report of its strikes, ``hours`` later, whose last
    paragraph retells the attack."""
    strikes = article("dod", title, f"{lede}\n{retold}", TAJI_WED + timedelta(hours=hours), "DoD")
    return Pipeline().feed([taji(), strikes])


def test_a_strike_report_retelling_the_attack_it_answers_keeps_apart() -> None:
    p = after_taji("U.S. Conducts Defensive Precision Strikes Against Kata'ib Hizbollah in Iraq",
                   "The U.S. military conducted defensive precision strikes against Kata'ib "
                   "Hizbollah (KH) facilities across Iraq, the Pentagon said in a statement.",
                   "Two Americans and one British service member were killed and 14 others "
                   "wounded in a March 11 rocket attack on Camp Taji.", 30)
    assert p.grouping() == {frozenset({"reuters"}), frozenset({"dod"})}
    # its names are the strike's: the base of the attack it retells is not among them
    assert p.decisions["dod"].sites == frozenset()
    assert "Kataib Hezbollah" in p.decisions["dod"].groups


def test_a_strike_statement_whose_headline_matches_nothing_is_a_strike_by_its_lede() -> None:
    # "…defensive precision strikes in Iraq" names no group in the headline: the lede tells the
    # kind of event (a strike), and the Taji attack it retells lends it nothing
    p = after_taji("Statement by the Department of Defense on defensive precision strikes in Iraq",
                   "Today, U.S. forces conducted defensive precision strikes against Kata'ib "
                   "Hizbollah (KH) facilities across Iraq.",
                   "On March 11, a rocket attack on Camp Taji, Iraq, killed two U.S. service "
                   "members and one British service member.", 32)
    assert p.grouping() == {frozenset({"reuters"}), frozenset({"dod"})}
    assert p.decisions["dod"].reason.startswith("new story: strike by Kataib Hezbollah")


OMAR_MON = datetime(2021, 6, 28, 17, 30, tzinfo=UTC)


def omar(key: str, title: str, text: str, hours: int, outlet: str) -> Article:
    return article(key, title, text, OMAR_MON + timedelta(hours=hours), outlet)


def test_an_attack_reports_lede_names_its_base_when_the_headline_does_not() -> None:
    # the rule matches in the headline ("…rocket attack on oil-field outpost", in Syria); the
    # lede names the base: the report joins that base's story
    p = Pipeline().feed([
        omar("npa", "Rockets target coalition base at al-Omar oil field",
             "Several rockets targeted the US-led coalition base at the al-Omar oil field in Deir "
             "ez-Zor on Monday evening, local sources said.", 0, "North Press"),
        omar("mt", "US troops in Syria fire back after rocket attack on oil-field outpost",
             "U.S. troops at an outpost near Syria's al-Omar oil field returned fire with "
             "artillery on Monday evening, a coalition spokesman said.", 20, "Military Times")])
    assert p.grouping() == {frozenset({"npa", "mt"})}
    assert "same base (Mission Support Site Green Village" in p.decisions["mt"].reason
