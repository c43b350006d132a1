"""Forms of the procurement register: the procurement, triage, confirmation, duties, follow-up."""

from __future__ import annotations

import uuid
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, FormField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from sakskydd.procurements.rules import (
    CONSULTATION_OUTCOME_LABELS,
    OUTCOME_LABELS,
    QUESTIONS,
    WHERE_LABELS,
)
from sakskydd.procurements.services import DUTY_STATUS_LABELS, KIND_LABELS, MAX_ACTIONS, RESULT_LABELS
from sakskydd.web.formbase import SwedishForm
from sakskydd.web.forms import REQUIRED, ChoiceField, GuardedForm, SwedishDateField, too_long, version_field

YES_NO = [("ja", "Ja"), ("nej", "Nej")]
ORG_NUMBER_HINT = "Organisationsnummer (NNNNNN-NNNN)"


class ProcurementForm(GuardedForm):
    free_text_fields = ("supplier_contact",)

    kind = ChoiceField(
        "Typ av förfarande", choices=list(KIND_LABELS.items()), validators=[DataRequired(REQUIRED)]
    )
    title = StringField("Neutral benämning", validators=[DataRequired(REQUIRED), too_long(200)])
    registry_number = StringField("Diarienummer", validators=[DataRequired(REQUIRED), too_long(50)])
    responsible = ChoiceField("Ansvarig upphandlare", validators=[DataRequired(REQUIRED)])
    procedure_starts_on = SwedishDateField(
        "Förfarandet planeras börja (ÅÅÅÅ-MM-DD)", validators=[InputRequired(REQUIRED)]
    )
    contract_starts_on = SwedishDateField("Avtalet börjar (ÅÅÅÅ-MM-DD)", validators=[Optional()])
    contract_ends_on = SwedishDateField("Avtalet slutar (ÅÅÅÅ-MM-DD)", validators=[Optional()])
    supplier_name = StringField("Leverantörens namn", validators=[too_long(200)])
    supplier_org_number = StringField(
        "Leverantörens organisationsnummer (NNNNNN-NNNN)", validators=[too_long(13)]
    )
    supplier_contact = TextAreaField(
        "Leverantörens kontaktuppgifter (sparas krypterat)", validators=[too_long(1000)]
    )

    def values(self) -> dict[str, Any]:
        """The service's `values` (services.EDITABLE_FIELDS); the service checks the responsible."""
        try:
            responsible = uuid.UUID(self.responsible.data or "")
        except ValueError:
            responsible = None
        return {
            "kind": self.kind.data,
            "title": self.title.data,
            "registry_number": self.registry_number.data,
            "responsible_id": responsible,
            "procedure_starts_on": self.procedure_starts_on.data,
            "contract_starts_on": self.contract_starts_on.data,
            "contract_ends_on": self.contract_ends_on.data,
            "supplier_name": self.supplier_name.data,
            "supplier_org_number": self.supplier_org_number.data,
            "supplier_contact": self.supplier_contact.data,
            "classification": self.marking.data or 0,
        }


class SubSupplierForm(SwedishForm):
    name = StringField("Underleverantörens namn", validators=[DataRequired(REQUIRED), too_long(200)])
    org_number = StringField(ORG_NUMBER_HINT, validators=[too_long(13)])


class TriageForm(SwedishForm):
    classified_access = ChoiceField(
        QUESTIONS["classified_access"], choices=YES_NO, validators=[DataRequired(REQUIRED)]
    )
    sensitive_activity = ChoiceField(
        QUESTIONS["sensitive_activity"], choices=YES_NO, validators=[DataRequired(REQUIRED)]
    )
    where = ChoiceField(
        QUESTIONS["where"], choices=list(WHERE_LABELS.items()), validators=[DataRequired(REQUIRED)]
    )
    staff_vetting = ChoiceField(
        QUESTIONS["staff_vetting"], choices=YES_NO, validators=[DataRequired(REQUIRED)]
    )
    restricted_access = ChoiceField(
        QUESTIONS["restricted_access"], choices=YES_NO, validators=[DataRequired(REQUIRED)]
    )
    sub_suppliers = ChoiceField(
        QUESTIONS["sub_suppliers"], choices=YES_NO, validators=[DataRequired(REQUIRED)]
    )
    version = version_field()

    ANSWERS = (
        "classified_access",
        "sensitive_activity",
        "staff_vetting",
        "restricted_access",
        "sub_suppliers",
    )


class ConfirmTriageForm(GuardedForm):
    free_text_fields = ("reason",)
    marking = None  # the reason is the samordnare's own unclassified text

    outcome = ChoiceField("Utfall", choices=list(OUTCOME_LABELS.items()), validators=[DataRequired(REQUIRED)])
    consultation = BooleanField("Samråd med tillsynsmyndigheten krävs")
    reason = TextAreaField(
        "Skäl (krävs när du ändrar det föreslagna utfallet; sparas krypterat)", validators=[too_long(2000)]
    )


class DutyForm(GuardedForm):
    free_text_fields = ("note",)
    marking = None

    status = ChoiceField(
        "Status",
        choices=[(k, v) for k, v in DUTY_STATUS_LABELS.items() if k != "bortfallen"],
        validators=[DataRequired(REQUIRED)],
    )
    done_on = SwedishDateField("Datum då det gjordes (ÅÅÅÅ-MM-DD)", validators=[Optional()])
    reference = StringField("Referens (diarienummer eller dokument-id)", validators=[too_long(100)])
    owner = ChoiceField("Ansvarig", validators=[DataRequired(REQUIRED)])
    consultation_outcome = ChoiceField(
        "Samrådets utfall", choices=[("", "Inte klart")] + list(CONSULTATION_OUTCOME_LABELS.items())
    )
    count_required = IntegerField(
        "Befattningar hos leverantören att säkerhetspröva",
        validators=[Optional(), NumberRange(min=0, max=10000, message="Ange ett tal 0–10000.")],
    )
    count_done = IntegerField(
        "Av dem säkerhetsprövade",
        validators=[Optional(), NumberRange(min=0, max=10000, message="Ange ett tal 0–10000.")],
    )
    note = TextAreaField("Anteckning (sparas krypterat)", validators=[too_long(2000)])


class CloseForm(GuardedForm):
    free_text_fields = ("final_note",)
    marking = None

    final_note = TextAreaField(
        "Slutanteckning (sparas krypterat)", validators=[DataRequired(REQUIRED), too_long(2000)]
    )


class ActionRowForm(FlaskForm):
    class Meta:
        csrf = False  # part of the follow-up form, which carries the token

    description = StringField("Åtgärd", validators=[too_long(300)])
    responsible = StringField("Ansvarig", validators=[too_long(200)])
    due_on = SwedishDateField("Klar senast (ÅÅÅÅ-MM-DD)", validators=[Optional()])


class FollowUpForm(GuardedForm):
    free_text_fields = ("findings",)
    marking = None

    performed_on = SwedishDateField(
        "Datum för uppföljningen (ÅÅÅÅ-MM-DD)", validators=[InputRequired(REQUIRED)]
    )
    findings = TextAreaField("Iakttagelser (sparas krypterat)", validators=[too_long(4000)])
    actions = FieldList(FormField(ActionRowForm), min_entries=3, max_entries=MAX_ACTIONS)

    # One result per checklist item, posted as result-0, result-1 … (the view reads them).
    RESULT_CHOICES = list(RESULT_LABELS.items())


class ActionForm(SwedishForm):
    done_on = SwedishDateField("Klar den (ÅÅÅÅ-MM-DD)", validators=[Optional()])
    version = version_field()


class TemplateForm(SwedishForm):
    items = TextAreaField(
        "Minimikrav att följa upp hos leverantören (en punkt per rad)", validators=[DataRequired(REQUIRED)]
    )


class ExportForm(SwedishForm):
    format = ChoiceField(
        "Format", choices=[("xlsx", "Excel (XLSX)"), ("csv", "CSV")], validators=[DataRequired(REQUIRED)]
    )
