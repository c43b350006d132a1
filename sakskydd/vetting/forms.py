"""Forms of personnel vetting: positions, cases, the checklist, the beslut, notes and the end."""

from __future__ import annotations

from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Optional

from sakskydd.vetting.rules import CLASS_LABELS, CONTROL_REASON_LABELS, DECISION_LABELS
from sakskydd.web.formbase import SwedishForm
from sakskydd.web.forms import REQUIRED, ChoiceField, GuardedForm, SwedishDateField, too_long, version_field

# The personnummer is typed, never shown again: the field is rendered empty after a refusal
# and browsers are asked not to remember it.
PNR_ATTRS = {"autocomplete": "off", "spellcheck": "false", "inputmode": "text"}
PNR_LABEL = "Personnummer eller samordningsnummer (ÅÅÅÅMMDD-NNNN)"


class PositionForm(SwedishForm):
    title = StringField("Befattningens benämning", validators=[DataRequired(REQUIRED), too_long(200)])
    security_class = ChoiceField(
        "Placering", choices=list(CLASS_LABELS.items()), validators=[DataRequired(REQUIRED)]
    )
    decided_on = SwedishDateField("Placeringen beslutad (ÅÅÅÅ-MM-DD)", validators=[InputRequired(REQUIRED)])
    decided_by = StringField(
        "Beslutad av (organ eller funktion)", validators=[DataRequired(REQUIRED), too_long(200)]
    )
    reference = StringField(
        "Placeringsbeslutets diarienummer", validators=[DataRequired(REQUIRED), too_long(100)]
    )
    government_reference = StringField(
        "Regeringsbeslutets diarienummer (bara klass 1)", validators=[too_long(100)]
    )
    analysis = ChoiceField("Säkerhetsskyddsanalys som placeringen bygger på", validators=[Optional()])
    ended_on = SwedishDateField("Befattningen avvecklad (ÅÅÅÅ-MM-DD)", validators=[Optional()])
    version = version_field()


class OpenCaseForm(SwedishForm):
    position = ChoiceField("Befattning", validators=[DataRequired(REQUIRED)])
    person_name = StringField("Personens namn", validators=[DataRequired(REQUIRED), too_long(200)])
    personnummer = StringField(
        PNR_LABEL, validators=[DataRequired(REQUIRED), too_long(20)], render_kw=PNR_ATTRS
    )


class LookupForm(SwedishForm):
    personnummer = StringField(
        PNR_LABEL, validators=[DataRequired(REQUIRED), too_long(20)], render_kw=PNR_ATTRS
    )


STEP_STATUS_CHOICES = [("klar", "Klar"), ("oppen", "Inte klar")]


class StepForm(SwedishForm):
    status = ChoiceField("Status", choices=STEP_STATUS_CHOICES, validators=[DataRequired(REQUIRED)])
    done_on = SwedishDateField("Gjort den (ÅÅÅÅ-MM-DD)", validators=[Optional()])
    reference = StringField("Referens (diarienummer eller dokument-id)", validators=[too_long(100)])
    control_reason = ChoiceField(
        "Kontrollorsak",
        choices=[("", "Välj kontrollorsak"), *CONTROL_REASON_LABELS.items()],
        validators=[Optional()],
    )
    version = version_field()


class DecisionForm(SwedishForm):
    decision = ChoiceField(
        "Beslut", choices=list(DECISION_LABELS.items()), validators=[DataRequired(REQUIRED)]
    )
    decided_on = SwedishDateField("Beslutsdatum (ÅÅÅÅ-MM-DD)", validators=[InputRequired(REQUIRED)])
    reference = StringField("Beslutets diarienummer", validators=[DataRequired(REQUIRED), too_long(100)])
    version = version_field()


CONFIRM_CHOICES = [
    ("bekrafta", "Bekräfta beslutet"),
    ("aterforvisa", "Återförvisa – beslutet fattas på nytt"),
]


class ConfirmDecisionForm(SwedishForm):
    choice = ChoiceField(
        "Ditt ställningstagande", choices=CONFIRM_CHOICES, validators=[DataRequired(REQUIRED)]
    )
    version = version_field()


class NoteForm(GuardedForm):
    free_text_fields = ("text",)
    marking = None

    noted_on = SwedishDateField("Datum (ÅÅÅÅ-MM-DD)", validators=[InputRequired(REQUIRED)])
    text = TextAreaField("Anteckning (sparas krypterat)", validators=[DataRequired(REQUIRED), too_long(2000)])


class RecheckForm(SwedishForm):
    checked_on = SwedishDateField("Omkontrollen gjord (ÅÅÅÅ-MM-DD)", validators=[InputRequired(REQUIRED)])
    reference = StringField("Omkontrollens diarienummer", validators=[DataRequired(REQUIRED), too_long(100)])
    version = version_field()


class EndForm(SwedishForm):
    left_on = SwedishDateField(
        "Personen lämnade befattningen (ÅÅÅÅ-MM-DD)", validators=[InputRequired(REQUIRED)]
    )
    deregistered_on = SwedishDateField("Registerkontrollen avanmäld (ÅÅÅÅ-MM-DD)", validators=[Optional()])
    reference = StringField("Avanmälans diarienummer", validators=[too_long(100)])
    version = version_field()


class InterviewTemplateForm(SwedishForm):
    topics = TextAreaField("Intervjuns ämnen (ett ämne per rad)", validators=[DataRequired(REQUIRED)])
