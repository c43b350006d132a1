"""Forms of the yearly follow-up. The answer and review forms have one set of fields per question
of the follow-up, built for it (`answers_form`, `review_form`)."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, RadioField, TextAreaField
from wtforms.validators import DataRequired, Optional

from sakskydd.followup.models import AnnualFollowUp
from sakskydd.followup.services import ANSWER_LABELS, MAX_COMMENT_LENGTH, MAX_QUESTION_LENGTH
from sakskydd.web.formbase import SwedishForm
from sakskydd.web.forms import GuardedForm, too_long, version_field

ANSWER_CHOICES = [(value, label) for value, label in ANSWER_LABELS.items()]
DECISION_CHOICES = [
    ("granskad", "Markera uppföljningen som granskad"),
    ("aterremittera", "Återremittera till samordnaren för komplettering"),
]


class ActionForm(SwedishForm):
    """A button's POST: the CSRF token only."""


class _PerQuestionForm(GuardedForm):
    """The attestation and hidden version of GuardedForm; the follow-up has no marking of its own."""

    marking = None  # type: ignore[assignment]


def answer_field(position: int) -> str:
    return f"answer_{position}"


def comment_field(position: int) -> str:
    return f"comment_{position}"


def chef_comment_field(position: int) -> str:
    return f"chef_comment_{position}"


def answers_form(followup: AnnualFollowUp, **kwargs: Any) -> Any:
    """An answer (optional until submitting) and a comment for every question."""

    class AnswersForm(_PerQuestionForm):
        pass

    names = []
    for item in followup.answers:
        setattr(
            AnswersForm,
            answer_field(item.position),
            RadioField(f"Svar på fråga {item.position}", choices=ANSWER_CHOICES, validators=[Optional()]),
        )
        setattr(
            AnswersForm,
            comment_field(item.position),
            TextAreaField(
                f"Kommentar till fråga {item.position}",
                validators=[Optional(), too_long(MAX_COMMENT_LENGTH)],
            ),
        )
        names.append(comment_field(item.position))
    AnswersForm.free_text_fields = tuple(names)
    return AnswersForm(**kwargs)


class SubmitForm(SwedishForm):
    confirmed = BooleanField(
        "Jag har gått igenom svaren och vill skicka in uppföljningen till säkerhetsskyddschefen.",
        validators=[DataRequired("Bekräfta att du vill skicka in uppföljningen.")],
    )
    version = version_field()


def review_form(followup: AnnualFollowUp, **kwargs: Any) -> Any:
    """The chef's decision, an overall comment and a comment per question."""

    class ReviewForm(_PerQuestionForm):
        decision = RadioField(
            "Beslut", choices=DECISION_CHOICES, validators=[DataRequired("Välj ett av alternativen.")]
        )
        comment = TextAreaField(
            "Kommentar till samordnaren (krävs vid återremittering)",
            validators=[Optional(), too_long(MAX_COMMENT_LENGTH)],
        )

    names = ["comment"]
    for item in followup.answers:
        setattr(
            ReviewForm,
            chef_comment_field(item.position),
            TextAreaField(
                f"Din kommentar till fråga {item.position}",
                validators=[Optional(), too_long(MAX_COMMENT_LENGTH)],
            ),
        )
        names.append(chef_comment_field(item.position))
    ReviewForm.free_text_fields = tuple(names)
    return ReviewForm(**kwargs)


class QuestionRowForm(Form):
    """One question of the editor (a subform: the page's form carries the CSRF token)."""

    key = HiddenField()
    text = TextAreaField("Fråga", validators=[Optional(), too_long(MAX_QUESTION_LENGTH)])
    include = BooleanField("Ta med frågan")


class QuestionnaireForm(SwedishForm):
    rows = FieldList(FormField(QuestionRowForm), min_entries=0, max_entries=60)


__all__ = [
    "ActionForm",
    "QuestionnaireForm",
    "SubmitForm",
    "answer_field",
    "answers_form",
    "chef_comment_field",
    "comment_field",
    "review_form",
]
