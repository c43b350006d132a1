"""Forms of the administration pages."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from sakskydd.accounts.forms import REQUIRED
from sakskydd.web.formbase import SwedishForm

ROLE_LABELS = {
    "samordnare": "Säkerhetsskyddssamordnare",
    "ersattare": "Ersättare för säkerhetsskyddssamordnare",
    "upphandlare": "Upphandlare",
    "chef": "Säkerhetsskyddschef",
    "revisor": "Revisor",
    "admin": "Systemadministratör",
}
CLEARANCE_LABELS = {
    0: "Ingen (ej behörig till säkerhetsskyddsklassificerade uppgifter)",
    1: "BEGRÄNSAT HEMLIG",
    2: "KONFIDENTIELL",
    3: "HEMLIG",
    4: "KVALIFICERAT HEMLIG",
}
OPERATOR_KIND_LABELS = {"kommun": "Kommun", "bolag": "Bolag"}
UNIT_KIND_LABELS = {
    "stadsdelsnamnd": "Stadsdelsnämnd",
    "facknamnd": "Facknämnd",
    "bolag": "Bolag",
    "annan": "Annan enhet",
}


class UserCreateForm(SwedishForm):
    username = StringField("Användarnamn", validators=[DataRequired(REQUIRED), Length(max=64)])
    display_name = StringField("Namn", validators=[DataRequired(REQUIRED), Length(max=200)])
    email = StringField("E-postadress", validators=[DataRequired(REQUIRED), Length(max=254)])
    operator = SelectField("Verksamhetsutövare", validators=[DataRequired(REQUIRED)])


class UserEditForm(SwedishForm):
    display_name = StringField("Namn", validators=[DataRequired(REQUIRED), Length(max=200)])
    email = StringField("E-postadress", validators=[DataRequired(REQUIRED), Length(max=254)])
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])


class RoleGrantForm(SwedishForm):
    role = SelectField("Roll", choices=list(ROLE_LABELS.items()), validators=[DataRequired(REQUIRED)])
    scope = SelectField("Gäller för (enhet eller verksamhetsutövare)", validators=[DataRequired(REQUIRED)])
    next = HiddenField()


class ClearanceForm(SwedishForm):
    clearance = SelectField(
        "Behörighetsnivå",
        choices=[(str(k), v) for k, v in CLEARANCE_LABELS.items()],
        validators=[DataRequired(REQUIRED)],
    )
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
    next = HiddenField()


class OperatorCreateForm(SwedishForm):
    name = StringField("Namn", validators=[DataRequired(REQUIRED), Length(max=200)])
    kind = SelectField("Typ", choices=list(OPERATOR_KIND_LABELS.items()), validators=[DataRequired(REQUIRED)])
    org_number = StringField("Organisationsnummer (NNNNNN-NNNN)", validators=[Optional(), Length(max=11)])
    parent = SelectField("Ägs av (för bolag)", validators=[Optional()])


class OperatorEditForm(SwedishForm):
    name = StringField("Namn", validators=[DataRequired(REQUIRED), Length(max=200)])
    org_number = StringField("Organisationsnummer (NNNNNN-NNNN)", validators=[Optional(), Length(max=11)])
    is_active = BooleanField("Aktiv")
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])


class UnitForm(SwedishForm):
    name = StringField("Namn", validators=[DataRequired(REQUIRED), Length(max=200)])
    kind = SelectField("Typ", choices=list(UNIT_KIND_LABELS.items()), validators=[DataRequired(REQUIRED)])


class UnitEditForm(UnitForm):
    is_active = BooleanField("Aktiv")
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
