"""Forms of the analysis pages; every free-text field goes through the storage guard."""

from __future__ import annotations

import datetime as dt

from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from sakskydd.classification import CLASSIFICATION_LABELS, DAMAGE_LEVEL_LABELS
from sakskydd.web.formbase import SwedishForm
from sakskydd.web.forms import BAD_DATE, REQUIRED, GuardedForm

STATUS_LABELS = {
    "utkast": "Utkast",
    "inskickad": "Inskickad för granskning",
    "aterremitterad": "Återremitterad",
    "faststalld": "Fastställd",
}
OUTCOME_LABELS = {
    "ej_klar": "Inte bedömd ännu",
    "sakerhetskanslig": "Verksamheten är säkerhetskänslig",
    "inte_sakerhetskanslig": "Verksamheten är inte säkerhetskänslig",
}
CATEGORY_LABELS = {
    "cat_external_security": "Sveriges yttre säkerhet",
    "cat_internal_security": "Sveriges inre säkerhet",
    "cat_essential_services": "Nationellt samhällsviktig verksamhet",
    "cat_economy": "Verksamhet av betydelse för Sveriges ekonomi",
    "cat_dependencies": "Verksamhet som kan skada annan säkerhetskänslig verksamhet (beroenden)",
}
REFERENCE_KIND_LABELS = {"hot": "Säkerhetshot", "sarbarhet": "Sårbarhet", "underlag": "Övrigt underlag"}
AREA_LABELS = {
    "informationssakerhet": "Informationssäkerhet",
    "fysisk_sakerhet": "Fysisk säkerhet",
    "personalsakerhet": "Personalsäkerhet",
}
MEASURE_STATUS_LABELS = {
    "planerad": "Planerad",
    "pagar": "Pågår",
    "klar": "Klar",
    "ej_genomford": "Inte genomförd",
}
FIELD_LABELS = {
    **CATEGORY_LABELS,
    "international_commitments": "Internationella åtaganden",
    "scope_note": "Verksamhetsbeskrivning",
    "threat_summary": "Hotbild (sammanfattning)",
    "vulnerability_summary": "Sårbarheter (sammanfattning)",
    "conclusion": "Slutsats och motivering",
}

NEUTRAL_HINT = "Skriv neutralt. Det skyddsvärda innehållet stannar i den klassificerade handlingen."


def _not_before_2000(form: SwedishForm, field: DateField) -> None:
    if field.data is not None and field.data < dt.date(2000, 1, 1):
        raise ValidationError("Datumet är orimligt tidigt.")


class AnalysisStartForm(SwedishForm):
    title = StringField("Rubrik", validators=[DataRequired(REQUIRED), Length(max=200)])
    cycle_year = IntegerField(
        "Analysår",
        validators=[DataRequired(REQUIRED), NumberRange(2000, 2100, "Ange ett år mellan 2000 och 2100.")],
    )
    based_on = SelectField("Utgå från", validators=[Optional()])
    due_on = DateField(
        "Ska skickas till säkerhetsskyddschefen senast",
        validators=[Optional(), _not_before_2000],
        format="%Y-%m-%d",
    )


class AnalysisForm(GuardedForm):
    free_text_fields = ("scope_note", "threat_summary", "vulnerability_summary", "conclusion")

    title = StringField("Rubrik", validators=[DataRequired(REQUIRED), Length(max=200)])
    cat_external_security = BooleanField(CATEGORY_LABELS["cat_external_security"])
    cat_internal_security = BooleanField(CATEGORY_LABELS["cat_internal_security"])
    cat_essential_services = BooleanField(CATEGORY_LABELS["cat_essential_services"])
    cat_economy = BooleanField(CATEGORY_LABELS["cat_economy"])
    cat_dependencies = BooleanField(CATEGORY_LABELS["cat_dependencies"])
    international_commitments = BooleanField("Verksamheten har internationella åtaganden om säkerhetsskydd")
    scope_note = TextAreaField(FIELD_LABELS["scope_note"], validators=[Optional(), Length(max=5000)])
    threat_summary = TextAreaField(FIELD_LABELS["threat_summary"], validators=[Optional(), Length(max=5000)])
    vulnerability_summary = TextAreaField(
        FIELD_LABELS["vulnerability_summary"], validators=[Optional(), Length(max=5000)]
    )
    outcome = SelectField(
        "Slutsats", choices=list(OUTCOME_LABELS.items()), validators=[DataRequired(REQUIRED)]
    )
    conclusion = TextAreaField(FIELD_LABELS["conclusion"], validators=[Optional(), Length(max=5000)])
    due_on = DateField(
        "Ska skickas till säkerhetsskyddschefen senast",
        validators=[Optional(), _not_before_2000],
        format="%Y-%m-%d",
    )


class ReferenceForm(GuardedForm):
    free_text_fields = ("summary",)
    marking = None  # the document's marking decides; only its reference is stored when above the ceiling

    kind = SelectField(
        "Typ", choices=list(REFERENCE_KIND_LABELS.items()), validators=[DataRequired(REQUIRED)]
    )
    reference = StringField(
        "Diarienummer eller dokument-id", validators=[DataRequired(REQUIRED), Length(max=100)]
    )
    location = StringField("Var handlingen förvaras", validators=[Optional(), Length(max=200)])
    document_classification = SelectField(
        "Handlingens säkerhetsskyddsklass", coerce=int, choices=list(CLASSIFICATION_LABELS.items())
    )
    summary = TextAreaField("Neutral sammanfattning", validators=[Optional(), Length(max=2000)])


class AssetLinkForm(SwedishForm):
    asset = SelectField("Skyddsvärde från registret", validators=[DataRequired(REQUIRED)])
    damage_level = SelectField(
        "Bedömd konsekvens om skyddsvärdet röjs, förstörs eller manipuleras",
        choices=list(DAMAGE_LEVEL_LABELS.items()),
        validators=[DataRequired(REQUIRED)],
    )


class MeasureForm(GuardedForm):
    free_text_fields = ("description",)
    marking = None

    area = SelectField("Område", choices=list(AREA_LABELS.items()), validators=[DataRequired(REQUIRED)])
    title = StringField("Åtgärd (neutral rubrik)", validators=[DataRequired(REQUIRED), Length(max=200)])
    description = TextAreaField("Beskrivning", validators=[Optional(), Length(max=2000)])
    responsible_function = StringField(
        "Ansvarig funktion", validators=[DataRequired(REQUIRED), Length(max=200)]
    )
    due_on = DateField(
        "Klar senast", validators=[DataRequired(BAD_DATE), _not_before_2000], format="%Y-%m-%d"
    )
    status = SelectField("Status", choices=list(MEASURE_STATUS_LABELS.items()), default="planerad")
    done_on = DateField("Klar datum", validators=[Optional(), _not_before_2000], format="%Y-%m-%d")


class MeasureStatusForm(SwedishForm):
    status = SelectField(
        "Status", choices=list(MEASURE_STATUS_LABELS.items()), validators=[DataRequired(REQUIRED)]
    )
    done_on = DateField("Klar datum", validators=[Optional(), _not_before_2000], format="%Y-%m-%d")
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])


class WorkflowForm(SwedishForm):
    """Submit, return (comment required by the service) or approve."""

    comment = TextAreaField("Kommentar", validators=[Optional(), Length(max=2000)])
    attested = BooleanField(
        "Jag intygar att kommentaren inte innehåller säkerhetsskyddsklassificerade uppgifter."
    )
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])

    def validate(self, extra_validators: object = None) -> bool:
        valid = super().validate(extra_validators)
        if (self.comment.data or "").strip() and not self.attested.data:
            self.attested.errors = [
                *self.attested.errors,
                "Du måste intyga att kommentaren inte innehåller säkerhetsskyddsklassificerade uppgifter.",
            ]
            valid = False
        return valid
