"""Demo data for the chef's year, made through the services (real audit events, encryption):
Kulturnämnden's follow-up of last year, answered, returned once and reviewed (this year's is left
for the samordnare to open from Att göra); the city's city-wide analysis of last year, adopted,
and this year's draft, compiled, with omvärldsbevakning to compare against."""

from __future__ import annotations

import datetime as dt

from sakskydd.accounts.models import User
from sakskydd.config import Settings
from sakskydd.deadlines import Rules
from sakskydd.followup import questions
from sakskydd.followup import services as followups
from sakskydd.followup.models import AnnualFollowUp, Answer
from sakskydd.organisations.models import Operator, OrgUnit
from sakskydd.oversight import services as citywide
from sakskydd.oversight.models import CityWideAnalysis, ThreatCategory

# Last year's answers: "delvis" where the plan and the training lagged, with a neutral comment.
PARTLY = {
    questions.PLAN: "Två åtgärder i planen blev försenade till våren.",
    questions.TRAINING: "Utbildningen är planerad men inte genomförd.",
}
TRAINING_DONE = "Utbildningen genomfördes i november och utvärderades i december."


def _answers(followup: AnnualFollowUp, *, returned: bool = False) -> dict[int, followups.AnswerInput]:
    inputs = {}
    for item in followup.answers:
        if returned and item.question_key == questions.TRAINING:
            inputs[item.position] = followups.AnswerInput(Answer.YES, TRAINING_DONE)
        elif item.question_key in PARTLY:
            inputs[item.position] = followups.AnswerInput(Answer.PARTLY, PARTLY[item.question_key])
        else:
            inputs[item.position] = followups.AnswerInput(Answer.YES, None)
    return inputs


def _followup_last_year(unit: OrgUnit, samordnare: User, chef: User, today: dt.date, rules: Rules) -> None:
    opened = followups.open_followup(samordnare, unit, today=dt.date(today.year - 1, 8, 20), rules=rules)
    followups.save_answers(
        samordnare, opened, _answers(opened), attested=True, ceiling=0, version=opened.version
    )
    followups.submit_followup(samordnare, opened, version=opened.version)
    training = next(a.position for a in opened.answers if a.question_key == questions.TRAINING)
    followups.return_followup(
        chef,
        opened,
        comment="Komplettera med när utbildningen genomförs och hur den utvärderas.",
        chef_comments={training: "Ange datum för utbildningen."},
        attested=True,
        ceiling=0,
        version=opened.version,
    )
    followups.save_answers(
        samordnare, opened, _answers(opened, returned=True), attested=True, ceiling=0, version=opened.version
    )
    followups.submit_followup(samordnare, opened, version=opened.version)
    followups.review_followup(
        chef,
        opened,
        comment="Granskad. Följ upp de försenade åtgärderna i nästa analys.",
        chef_comments={},
        attested=True,
        ceiling=0,
        version=opened.version,
    )


def _note(
    chef: User, analysis: CityWideAnalysis, on: dt.date, source: str, summary: str, *kinds: str
) -> None:
    citywide.save_threat_note(
        chef,
        analysis,
        None,
        {
            "noted_on": on,
            "source_reference": source,
            "summary": summary,
            "categories": list(kinds),
            "attested": True,
        },
        version=analysis.version,
        ceiling=0,
    )


def _citywide(city: Operator, chef: User, today: dt.date, settings: Settings) -> int:
    last = citywide.create_analysis(chef, city, today.year - 1)
    citywide.compile_snapshot(chef, last, settings, version=last.version)
    citywide.update_conclusions(
        chef,
        last,
        "Alla nämnder och bolag har bedömt om lagen gäller dem.\n"
        "Flera enheter saknar ersättare; det följs upp i tertialrapporten.",
        attested=True,
        version=last.version,
        ceiling=0,
    )
    citywide.save_measure(
        chef,
        last,
        None,
        {
            "title": "Gemensam grundutbildning i säkerhetsskydd för samordnare",
            "reference": f"KS {today.year - 1}/214",
            "responsible_function": "Säkerhetsskyddschef",
            "due_on": dt.date(today.year, 6, 30),
        },
        version=last.version,
    )
    _note(
        chef,
        last,
        dt.date(today.year - 1, 3, 1),
        "Säkerhetspolisens årliga lägesbild",
        "Lägesbilden beskriver ett förhöjt hot mot kommunal verksamhet; underlag för stadens analys.",
        ThreatCategory.ESPIONAGE,
        ThreatCategory.CYBER,
    )
    citywide.adopt_analysis(chef, last, settings, version=last.version)

    draft = citywide.create_analysis(chef, city, today.year)
    citywide.compile_snapshot(chef, draft, settings, version=draft.version)
    _note(
        chef,
        draft,
        today - dt.timedelta(days=30),
        "MSB:s rapport om leverantörskedjor",
        "Rapporten beskriver risker i leverantörskedjor för it-drift; se över stadens avtal.",
        ThreatCategory.SUPPLY_CHAIN,
    )
    return 2


def load_oversight(
    city: Operator, unit: OrgUnit, samordnare: User, chef: User, today: dt.date, settings: Settings
) -> dict[str, int]:
    _followup_last_year(unit, samordnare, chef, today, Rules.from_settings(settings))
    return {"followups": 1, "citywide_analyses": _citywide(city, chef, today, settings)}
