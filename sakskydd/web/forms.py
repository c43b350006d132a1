"""Form pieces every domain form shares: the attestation, the marking, the hidden version."""

from __future__ import annotations

from typing import Any

from flask import current_app
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField
from wtforms.validators import Length, Optional, ValidationError

from sakskydd.accounts.forms import REQUIRED
from sakskydd.classification import (
    ATTESTATION_TEXT,
    CLASSIFICATION_LABELS,
    allowed_text_markings,
    ceiling_message,
)
from sakskydd.web.formbase import SwedishForm

__all__ = [
    "BAD_DATE",
    "REQUIRED",
    "ChoiceField",
    "GuardedForm",
    "SwedishDateField",
    "ceiling",
    "too_long",
    "version_field",
]

ATTESTATION_REQUIRED = (
    "Du måste intyga att fritexten inte innehåller säkerhetsskyddsklassificerade uppgifter."
)
BAD_DATE = "Ange ett datum som ÅÅÅÅ-MM-DD."
NOT_A_CHOICE = "Välj ett av alternativen."


def version_field() -> IntegerField:
    """The record's version, carried hidden through the form (optimistic locking)."""
    return IntegerField(widget=HiddenField.widget, validators=[Optional()])


def too_long(limit: int) -> Length:
    return Length(max=limit, message=f"Högst {limit} tecken.")


class ChoiceField(SelectField):
    """A select whose refusal of a value outside the list is in Swedish."""

    def pre_validate(self, form: Any) -> None:
        if not any(match for _, _, match, *_ in self.iter_choices()):
            raise ValidationError(NOT_A_CHOICE)


class SwedishDateField(DateField):
    """A date (ÅÅÅÅ-MM-DD) whose parse error is in Swedish."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(BAD_DATE) from exc


def ceiling() -> int:
    return int(current_app.config["SAKSKYDD_SETTINGS"].max_classification)


class GuardedForm(SwedishForm):
    """A form with free text: the storage guard (DOMAIN.md) runs as part of validation.

    Subclasses list their free-text fields in `free_text_fields`. Filled free text needs the
    attestation; the record's own marking may not exceed the deployment's ceiling.
    """

    free_text_fields: tuple[str, ...] = ()

    attested = BooleanField(ATTESTATION_TEXT)
    marking = SelectField("Informationens säkerhetsskyddsklass", coerce=int, default=0)
    version = version_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every level is listed so a user can say what a text would be; the guard refuses the
        # ones above the ceiling with an explanation instead of hiding them.
        if getattr(self, "marking", None) is not None:
            self.marking.choices = [(level, label) for level, label in CLASSIFICATION_LABELS.items()]

    def has_free_text(self) -> bool:
        return any((getattr(self, name).data or "").strip() for name in self.free_text_fields)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        marking = getattr(self, "marking", None)
        # A value outside the levels is the select's own error ("not a valid choice"); only a real
        # level above the ceiling gets the explanation.
        over = (
            marking is not None
            and marking.data in CLASSIFICATION_LABELS
            and marking.data not in allowed_text_markings(ceiling())
        )
        if over:
            marking.errors = [*marking.errors, ceiling_message(marking.data, ceiling())]
            valid = False
        if self.has_free_text() and not self.attested.data:
            self.attested.errors = [*self.attested.errors, ATTESTATION_REQUIRED]
            valid = False
        return valid
