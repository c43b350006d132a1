"""Forms of the unit pages: applicability, appointments, revision triggers, supervisors."""

from __future__ import annotations

from typing import Any

from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from sakskydd.organisations.models import Applicability
from sakskydd.organisations.services import (
    APPOINTMENT_ROLE_LABELS,
    MAX_DECIDED_BY,
    MAX_SHORT,
    MAX_TEXT,
    TRIGGER_KIND_LABELS,
)
from sakskydd.web.formbase import SwedishForm
from sakskydd.web.forms import BAD_DATE, REQUIRED, GuardedForm

TOO_LONG = "Texten är för lång (högst %(max)d tecken)."
OUTCOME_CHOICES = [
    ("", "Välj …"),
    (Applicability.YES.value, "Ja, verksamheten omfattas"),
    (Applicability.NO.value, "Nej, verksamheten omfattas inte"),
    (Applicability.INVESTIGATING.value, "Under utredning"),
]
REASONING_REQUIRED = "Skriv en motivering: även en bedömning att verksamheten inte omfattas ska dokumenteras."


def error_messages(form: Any) -> list[str]:
    """Every error of a form for the summary at the top of the page, with its field's label.

    The attestation's label is a whole sentence, so its message stands alone.
    """
    return [
        f"{f.label.text}: {e}" if f.label.text and f.name != "attested" else str(e)
        for f in form
        for e in f.errors
    ]


class SwedishDateField(DateField):
    """A date input (ÅÅÅÅ-MM-DD) whose parse error is in Swedish; bad input is shown back as typed."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(BAD_DATE) from None


class AssessmentForm(GuardedForm):
    free_text_fields = ("reasoning",)

    outcome = SelectField(
        "Omfattas verksamheten av säkerhetsskyddslagstiftningen?",
        choices=OUTCOME_CHOICES,
        validators=[DataRequired(REQUIRED)],
    )
    decided_on = SwedishDateField("Beslutsdatum", validators=[InputRequired(REQUIRED)])
    decided_by = StringField(
        "Beslutad av", validators=[DataRequired(REQUIRED), Length(max=MAX_DECIDED_BY, message=TOO_LONG)]
    )
    reference = StringField(
        "Diarienummer för beslutet (valfritt)",
        validators=[Optional(), Length(max=MAX_SHORT, message=TOO_LONG)],
    )
    # No Optional(): it would stop the chain before validate_reasoning sees an empty "nej".
    reasoning = TextAreaField("Motivering", validators=[Length(max=MAX_TEXT, message=TOO_LONG)])

    def validate_reasoning(self, field: Any) -> None:
        if self.outcome.data == Applicability.NO.value and not (field.data or "").strip():
            raise ValidationError(REASONING_REQUIRED)


class AppointmentForm(SwedishForm):
    user = SelectField("Person", validators=[DataRequired(REQUIRED)])
    role = SelectField(
        "Roll",
        choices=[("", "Välj …"), *APPOINTMENT_ROLE_LABELS.items()],
        validators=[DataRequired(REQUIRED)],
    )
    starts_on = SwedishDateField("Gäller från", validators=[InputRequired(REQUIRED)])
    ends_on = SwedishDateField("Gäller till och med (valfritt)", validators=[Optional()])
    reference = StringField(
        "Diarienummer för förordnandet (valfritt)",
        validators=[Optional(), Length(max=MAX_SHORT, message=TOO_LONG)],
    )

    def validate_ends_on(self, field: Any) -> None:
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("Slutdatum kan inte ligga före startdatum.")


class EndAppointmentForm(SwedishForm):
    ends_on = SwedishDateField("Sista dag för förordnandet", validators=[InputRequired(REQUIRED)])
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])


class RevisionTriggerForm(GuardedForm):
    free_text_fields = ("note",)

    kind = SelectField(
        "Händelse",
        choices=[("", "Välj …"), *TRIGGER_KIND_LABELS.items()],
        validators=[DataRequired(REQUIRED)],
    )
    occurred_on = SwedishDateField("Datum för händelsen", validators=[InputRequired(REQUIRED)])
    note = TextAreaField(
        "Anteckning (valfri)", validators=[Optional(), Length(max=MAX_TEXT, message=TOO_LONG)]
    )


class SupervisorsForm(SwedishForm):
    authorities = SelectMultipleField(
        "Tillsynsmyndigheter",
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])

    def validate_authorities(self, field: Any) -> None:
        # Not DataRequired: its `required` flag would mark every single checkbox as required.
        if not field.data:
            raise ValidationError("Välj minst en tillsynsmyndighet.")
