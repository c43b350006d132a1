"""Forms of the city-wide analysis. Every form carries the analysis' version (optimistic locking)."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, IntegerField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from sakskydd.classification import ATTESTATION_TEXT
from sakskydd.oversight.services import CATEGORY_LABELS, MAX_TEXT
from sakskydd.web.formbase import SwedishForm
from sakskydd.web.forms import REQUIRED, SwedishDateField, too_long, version_field


class VersionForm(SwedishForm):
    """A confirmed step (compile, adopt, remove): CSRF and the version the page showed."""

    version = version_field()


class CreateForm(SwedishForm):
    year = IntegerField(
        "År",
        validators=[InputRequired(REQUIRED), NumberRange(min=2000, max=2100, message="Ange ett årtal.")],
    )


class ConclusionsForm(SwedishForm):
    conclusions = TextAreaField("Slutsatser", validators=[Optional(), too_long(MAX_TEXT)])
    attested = BooleanField(ATTESTATION_TEXT)
    version = version_field()


class MeasureForm(SwedishForm):
    title = StringField("Åtgärd (neutral rubrik)", validators=[InputRequired(REQUIRED), too_long(200)])
    reference = StringField("Referens (diarienummer)", validators=[Optional(), too_long(100)])
    responsible_function = StringField("Ansvarig funktion", validators=[Optional(), too_long(200)])
    due_on = SwedishDateField("Klar senast", validators=[Optional()])
    version = version_field()


class ThreatNoteForm(SwedishForm):
    noted_on = SwedishDateField("Datum", validators=[InputRequired(REQUIRED)])
    source_reference = StringField("Källhänvisning", validators=[InputRequired(REQUIRED), too_long(200)])
    summary = TextAreaField("Sammanfattning", validators=[Optional(), too_long(MAX_TEXT)])
    categories = SelectMultipleField(
        "Kategorier",
        choices=list(CATEGORY_LABELS.items()),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    attested = BooleanField(ATTESTATION_TEXT)
    version = version_field()

    def validate_categories(self, field: Any) -> None:
        # Not InputRequired: its `required` flag would mark every single checkbox as required.
        if not field.data:
            raise ValidationError("Välj minst en kategori.")
