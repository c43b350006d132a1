"""Forms of the login, activation and self-service pages (labels and messages in Swedish)."""

from __future__ import annotations

from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from sakskydd.accounts.passwords import MAX_LENGTH
from sakskydd.web.formbase import SwedishForm

REQUIRED = "Fältet måste fyllas i."


class LoginForm(SwedishForm):
    username = StringField("Användarnamn", validators=[DataRequired(REQUIRED), Length(max=200)])
    password = PasswordField("Lösenord", validators=[DataRequired(REQUIRED), Length(max=MAX_LENGTH)])
    next = HiddenField()


class CodeForm(SwedishForm):
    code = StringField(
        "Sexsiffrig kod från din autentiseringsapp",
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class RecoveryForm(SwedishForm):
    code = StringField(
        "Återställningskod",
        validators=[DataRequired(REQUIRED), Length(max=40)],
        render_kw={"autocomplete": "off"},
    )


class NewPasswordForm(SwedishForm):
    password = PasswordField(
        "Nytt lösenord (minst 15 tecken)",
        validators=[DataRequired(REQUIRED), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Upprepa det nya lösenordet",
        validators=[DataRequired(REQUIRED), EqualTo("password", "Lösenorden är inte likadana.")],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(
        "Nuvarande lösenord",
        validators=[DataRequired(REQUIRED), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class StepUpForm(SwedishForm):
    password = PasswordField(
        "Lösenord",
        validators=[DataRequired(REQUIRED), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        "Sexsiffrig kod från din autentiseringsapp",
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    next = HiddenField()


class ConfirmForm(SwedishForm):
    """A button that changes state: CSRF token only (plus where to come back after step-up)."""

    next = HiddenField()
