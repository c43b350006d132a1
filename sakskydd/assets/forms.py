"""Forms of the asset register: the asset itself, its holders, archiving."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional, ValidationError

from sakskydd.assets.models import AssetStatus, AssetType
from sakskydd.classification import DAMAGE_LEVEL_LABELS
from sakskydd.db import utcnow
from sakskydd.web.forms import REQUIRED, ChoiceField, GuardedForm, SwedishDateField
from sakskydd.web.forms import too_long as _too_long

TYPE_LABELS = {
    AssetType.INFORMATION.value: "Information",
    AssetType.SYSTEM.value: "Informationssystem/it-tjänst",
    AssetType.ROUTINE.value: "Rutin",
    AssetType.PERSONNEL.value: "Personal/befattning",
    AssetType.PREMISES.value: "Lokal",
    AssetType.FACILITY.value: "Anläggning",
    AssetType.PROPERTY.value: "Objekt/egendom",
}
STATUS_LABELS = {
    AssetStatus.NORMAL.value: "Normal",
    AssetStatus.PROTECTED.value: "Skyddsvärt",
    AssetStatus.PROTECTED_OBJECT.value: "Skyddsobjekt",
}
# Names of the fields in the change history ("holders" and "is_archived" are not form fields).
FIELD_LABELS = {
    "type": "Typ",
    "name": "Namn",
    "damage_level": "Skadenivå",
    "status": "Status",
    "owner": "Informationsägare",
    "reference": "Referens",
    "location": "Förvaringsplats",
    "risk_assessed_on": "Riskbedömd",
    "note": "Anteckning",
    "classification": "Informationens säkerhetsskyddsklass",
    "is_archived": "Arkiverat",
    "holders": "Innehavare",
}
# A date "today" in Sweden may be tomorrow in UTC; one day of slack keeps the rule simple.
FUTURE_SLACK = dt.timedelta(days=1)


def latest_risk_date() -> dt.date:
    """The latest risk-assessment date accepted (no dates in the future)."""
    return (utcnow() + FUTURE_SLACK).date()


NAME_HINT = "Ange ett neutralt namn som inte avslöjar vad som skyddas."


class AssetForm(GuardedForm):
    free_text_fields = ("note",)

    type = ChoiceField("Typ", choices=list(TYPE_LABELS.items()), validators=[DataRequired(REQUIRED)])
    name = StringField("Namn", validators=[DataRequired(REQUIRED), _too_long(200)])
    damage_level = ChoiceField(
        "Skadenivå (konsekvens för Sveriges säkerhet)",
        choices=list(DAMAGE_LEVEL_LABELS.items()),
        validators=[DataRequired(REQUIRED)],
    )
    status = ChoiceField("Status", choices=list(STATUS_LABELS.items()), validators=[DataRequired(REQUIRED)])
    owner = StringField("Informationsägare", validators=[DataRequired(REQUIRED), _too_long(200)])
    reference = StringField(
        "Referens till detaljerna (diarienummer eller dokument-id)", validators=[_too_long(100)]
    )
    location = StringField("Var detaljerna förvaras", validators=[_too_long(200)])
    risk_assessed_on = SwedishDateField(
        "Riskbedömd ur säkerhetsskyddsperspektiv (datum, ÅÅÅÅ-MM-DD)", validators=[Optional()]
    )
    note = TextAreaField("Anteckning", validators=[_too_long(4000)])

    def validate_risk_assessed_on(self, field: SwedishDateField) -> None:
        if field.data is None:
            return
        if self.type.data != AssetType.SYSTEM.value:
            raise ValidationError(
                "Datum för riskbedömning anges bara för informationssystem och it-tjänster. "
                "Töm fältet eller välj typen Informationssystem/it-tjänst."
            )
        if field.data > latest_risk_date():
            raise ValidationError("Datumet kan inte ligga i framtiden.")

    def error_messages(self) -> list[str]:
        """Errors in the order of the page: the asset's fields, then the marking and attestation."""
        guard = ("marking", "attested")
        fields = [f for f in self if f.name not in guard] + [self[name] for name in guard]
        messages = []
        for field in fields:
            for error in field.errors:
                # The attestation's label is a whole sentence; its error says what to do.
                messages.append(str(error) if field.name == "attested" else f"{field.label.text}: {error}")
        return messages

    def values(self) -> dict[str, Any]:
        """The service's `values` (services.EDITABLE_FIELDS) from the submitted form."""
        return {
            "type": self.type.data,
            "name": self.name.data,
            "damage_level": self.damage_level.data,
            "status": self.status.data,
            "owner": self.owner.data,
            "reference": self.reference.data,
            "location": self.location.data,
            "risk_assessed_on": self.risk_assessed_on.data,
            "note": self.note.data,
            "classification": self.marking.data or 0,
        }


class HolderForm(FlaskForm):
    holder = ChoiceField("Lägg till innehavare (enhet eller person)", validators=[DataRequired(REQUIRED)])


class ArchiveForm(FlaskForm):
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
