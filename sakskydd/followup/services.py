"""The yearly follow-up: opened per unit and year with the questionnaire in force and what the
registers already say, answered and submitted by the samordnare/ersättare, returned or marked
granskad by the chef of the unit's operator; the chef's questionnaire (every save a version).

Audit events carry ids, positions and field names only, never the text of a comment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sakskydd import audit, versioned_lists
from sakskydd.accounts.models import User
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.deadlines import Rules, followup_due_on
from sakskydd.extensions import db
from sakskydd.followup import questions
from sakskydd.followup.models import (
    AnnualFollowUp,
    Answer,
    FollowUpAnswer,
    FollowUpQuestionnaire,
    FollowUpStatus,
)
from sakskydd.organisations.models import Operator, OrgUnit
from sakskydd.records import DomainError, check_free_text, check_version, clean_text, flush_versioned

STATUS_LABELS: Final[Mapping[str, str]] = {
    FollowUpStatus.DRAFT: "Utkast",
    FollowUpStatus.SUBMITTED: "Inskickad",
    FollowUpStatus.RETURNED: "Återremitterad",
    FollowUpStatus.REVIEWED: "Granskad",
}
NOT_OPENED_LABEL: Final = "Inte öppnad"
ANSWER_LABELS: Final[Mapping[str, str]] = {
    Answer.YES: "Ja",
    Answer.PARTLY: "Delvis",
    Answer.NO: "Nej",
    Answer.NOT_APPLICABLE: "Ej tillämpligt",
}
EDITABLE: Final = frozenset({FollowUpStatus.DRAFT, FollowUpStatus.RETURNED})
MAX_QUESTIONS: Final = 40
MAX_QUESTION_LENGTH: Final = 300
MAX_COMMENT_LENGTH: Final = 2000

QUESTIONNAIRE: Final = versioned_lists.ListKind(
    model=FollowUpQuestionnaire,
    attr="questions",
    default=(),
    event=Event.FOLLOWUP_QUESTIONNAIRE_SAVED,
    what="Frågeformuläret",
    max_items=MAX_QUESTIONS,
    max_length=MAX_QUESTION_LENGTH,
)


class WrongState(DomainError):
    """The workflow step is not possible from the follow-up's status."""


class OwnFollowUp(DomainError):
    def __init__(self) -> None:
        super().__init__("Du kan inte granska en uppföljning som du själv har skickat in.")


# --- the questionnaire ------------------------------------------------------------------------


def current_questionnaire(
    operator_id: uuid.UUID,
) -> tuple[FollowUpQuestionnaire | None, list[dict[str, Any]]]:
    """The questions in force: the operator's latest version, else its kommun's, else the built-in."""
    row, items = versioned_lists.current(QUESTIONNAIRE, operator_id)
    return row, (list(items) if row is not None else questions.builtin_questionnaire())


def questionnaire_versions(operator_id: uuid.UUID) -> list[FollowUpQuestionnaire]:
    return versioned_lists.versions(QUESTIONNAIRE, operator_id)


@dataclass(frozen=True)
class QuestionRow:
    """One row of the editor: the key (a built-in key or None), the text, whether it is kept."""

    key: str | None
    text: str | None
    include: bool = True


def parse_questionnaire(rows: Sequence[QuestionRow]) -> list[dict[str, Any]]:
    """The questions to save; raises DomainError like versioned_lists.parse."""
    result: list[dict[str, Any]] = []
    for row in rows:
        text = (row.text or "").strip()
        if not row.include or not text:
            continue
        key = row.key or None
        if key is not None and key not in questions.BUILTIN_KEYS:
            raise DomainError("En fråga har en okänd nyckel. Ladda om sidan och försök igen.")
        result.append({"key": key, "text": text})
    if not result:
        raise DomainError("Frågeformuläret måste ha minst en fråga.")
    if len(result) > MAX_QUESTIONS:
        raise DomainError(f"Frågeformuläret får ha högst {MAX_QUESTIONS} frågor.")
    if any(len(q["text"]) > MAX_QUESTION_LENGTH for q in result):
        raise DomainError(f"Varje fråga får vara högst {MAX_QUESTION_LENGTH} tecken.")
    texts = [q["text"] for q in result]
    keys = [q["key"] for q in result if q["key"] is not None]
    if len(set(texts)) != len(texts) or len(set(keys)) != len(keys):
        raise DomainError("Samma fråga står flera gånger i frågeformuläret.")
    return result


def save_questionnaire(
    actor: User, operator: Operator, rows: Sequence[QuestionRow]
) -> FollowUpQuestionnaire | None:
    """Save the questions as the operator's next version (audited); None when nothing changed."""
    items = parse_questionnaire(rows)
    _row, in_force = current_questionnaire(operator.id)
    own = questionnaire_versions(operator.id)
    if items == in_force:
        return None
    version_no = (own[0].version_no + 1) if own else 1
    row = FollowUpQuestionnaire(
        operator_id=operator.id, version_no=version_no, created_by_id=actor.id, questions=items
    )
    db.add(row)
    db.flush()
    audit.record(
        Event.FOLLOWUP_QUESTIONNAIRE_SAVED,
        target=operator,
        changed=["questions"],
        detail={"version": version_no, "questions": len(items), "keyed": sum(1 for q in items if q["key"])},
    )
    return row


# --- opening ----------------------------------------------------------------------------------


def record_read(followup: AnnualFollowUp, *, view: str = "detail") -> None:
    """Every read of a follow-up is audited: its pages show the decrypted comments."""
    audit.record(Event.FOLLOWUP_READ, target=followup, detail={"year": followup.year, "view": view})


def find_followup(unit_id: uuid.UUID, year: int) -> AnnualFollowUp | None:
    return db.scalar(
        select(AnnualFollowUp).where(AnnualFollowUp.unit_id == unit_id, AnnualFollowUp.year == year)
    )


def open_followup(actor: User, unit: OrgUnit, *, today: dt.date, rules: Rules) -> AnnualFollowUp:
    """Open this year's follow-up for the unit with the questions in force and the registers'
    facts; one per unit and year."""
    year = today.year
    if find_followup(unit.id, year) is not None:
        raise DomainError(f"Uppföljningen för {year} är redan öppnad.")
    row, items = current_questionnaire(unit.operator_id)
    facts = questions.prefill([unit.id], today, rules).get(unit.id, {})
    followup = AnnualFollowUp(
        id=uuid.uuid4(),
        unit_id=unit.id,
        year=year,
        questionnaire_id=row.id if row is not None else None,
        questionnaire_version=row.version_no if row is not None else 0,
        status=FollowUpStatus.DRAFT,
        due_on=followup_due_on(year, rules.followup_due),
        created_by_id=actor.id,
    )
    db.add(followup)
    for position, item in enumerate(items, start=1):
        known = facts.get(item["key"]) if item.get("key") else None
        db.add(
            FollowUpAnswer(
                id=uuid.uuid4(),
                followup_id=followup.id,
                unit_id=unit.id,
                position=position,
                question_key=item.get("key"),
                question=item["text"],
                prefill=known.text[:300] if known else None,
                suggested=known.suggested if known else None,
            )
        )
    try:
        db.flush()
    except IntegrityError as exc:  # opened by someone else at the same moment
        raise DomainError(f"Uppföljningen för {year} är redan öppnad.") from exc
    audit.record(
        Event.FOLLOWUP_OPENED,
        target=followup,
        detail={
            "year": year,
            "questionnaire_version": followup.questionnaire_version,
            "questions": len(items),
            "prefilled": sum(1 for item in items if item.get("key") in facts),
        },
    )
    return followup


# --- answering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerInput:
    answer: Answer | None
    comment: str | None


def _editable(followup: AnnualFollowUp) -> None:
    if followup.status not in EDITABLE:
        raise WrongState("Uppföljningen är inskickad eller granskad och kan inte ändras.")


def save_answers(
    actor: User,
    followup: AnnualFollowUp,
    inputs: Mapping[int, AnswerInput],
    *,
    attested: bool,
    ceiling: int,
    version: int | None,
) -> list[int]:
    """Save the answers and comments (by question position); returns the changed positions."""
    _editable(followup)
    check_version(followup, version)
    comments = {pos: clean_text(given.comment) for pos, given in inputs.items()}
    if any(c and len(c) > MAX_COMMENT_LENGTH for c in comments.values()):
        raise DomainError(f"En kommentar får vara högst {MAX_COMMENT_LENGTH} tecken.")
    check_free_text(comments.values(), attested=attested, ceiling=ceiling)
    answered, commented = [], []
    for item in followup.answers:
        given = inputs.get(item.position)
        if given is None:
            continue
        if item.answer != given.answer:
            item.answer = given.answer
            answered.append(item.position)
        if item.comment != comments[item.position]:
            item.comment = comments[item.position]
            commented.append(item.position)
    if not answered and not commented:
        return []
    followup.updated_at = utcnow()  # bumps the version: a concurrent editor sees a conflict
    flush_versioned()
    audit.record(
        Event.FOLLOWUP_ANSWERED,
        target=followup,
        changed=[name for name, touched in (("answer", answered), ("comment", commented)) if touched],
        detail={"answers": answered, "comments": commented},
    )
    return sorted({*answered, *commented})


def unanswered(followup: AnnualFollowUp) -> list[int]:
    return [item.position for item in followup.answers if item.answer is None]


def submit_followup(actor: User, followup: AnnualFollowUp, *, version: int | None) -> None:
    """utkast/återremitterad → inskickad, when every question has an answer."""
    _editable(followup)
    check_version(followup, version)
    missing = unanswered(followup)
    if missing:
        numbers = ", ".join(str(n) for n in missing)
        raise DomainError(f"Besvara alla frågor innan du skickar in. Obesvarade frågor: {numbers}.")
    before = followup.status
    followup.status = FollowUpStatus.SUBMITTED
    followup.submitted_by_id = actor.id
    followup.submitted_at = utcnow()
    followup.updated_at = followup.submitted_at
    flush_versioned()
    audit.record(
        Event.FOLLOWUP_SUBMITTED,
        target=followup,
        detail={"from": before.value, "to": FollowUpStatus.SUBMITTED.value},
    )


# --- the chef's review ------------------------------------------------------------------------


def _review(
    actor: User,
    followup: AnnualFollowUp,
    chef_comments: Mapping[int, str | None],
    *,
    texts: Sequence[str | None],
    attested: bool,
    ceiling: int,
    version: int | None,
) -> list[int]:
    # The policy forbids it already (sod.review_own_followup); the service holds the same rule.
    if actor.id == followup.submitted_by_id:
        raise OwnFollowUp()
    if followup.status != FollowUpStatus.SUBMITTED:
        raise WrongState("Uppföljningen är inte inskickad för granskning (någon kan redan ha granskat den).")
    check_version(followup, version)
    cleaned = {pos: clean_text(text) for pos, text in chef_comments.items()}
    check_free_text([*texts, *cleaned.values()], attested=attested, ceiling=ceiling)
    commented = []
    for item in followup.answers:
        if item.position in cleaned and item.chef_comment != cleaned[item.position]:
            item.chef_comment = cleaned[item.position]
            commented.append(item.position)
    return commented


def return_followup(
    actor: User,
    followup: AnnualFollowUp,
    *,
    comment: str | None,
    chef_comments: Mapping[int, str | None],
    attested: bool,
    ceiling: int,
    version: int | None,
) -> None:
    """inskickad → återremitterad with the chef's comment (required); editable again."""
    text = clean_text(comment)
    if text is None:
        raise DomainError("Skriv en kommentar som förklarar vad som behöver kompletteras.")
    commented = _review(
        actor, followup, chef_comments, texts=[text], attested=attested, ceiling=ceiling, version=version
    )
    _decide(actor, followup, FollowUpStatus.RETURNED, text)
    audit.record(
        Event.FOLLOWUP_RETURNED,
        target=followup,
        changed=["review_comment", *(["chef_comment"] if commented else [])],
        detail={"question_comments": commented},
    )


def review_followup(
    actor: User,
    followup: AnnualFollowUp,
    *,
    comment: str | None,
    chef_comments: Mapping[int, str | None],
    attested: bool,
    ceiling: int,
    version: int | None,
) -> None:
    """inskickad → granskad, with an optional overall comment and per-question comments."""
    text = clean_text(comment)
    commented = _review(
        actor, followup, chef_comments, texts=[text], attested=attested, ceiling=ceiling, version=version
    )
    _decide(actor, followup, FollowUpStatus.REVIEWED, text)
    audit.record(
        Event.FOLLOWUP_REVIEWED,
        target=followup,
        changed=[*(["review_comment"] if text else []), *(["chef_comment"] if commented else [])],
        detail={"commented": text is not None, "question_comments": commented},
    )


def _decide(actor: User, followup: AnnualFollowUp, status: FollowUpStatus, comment: str | None) -> None:
    followup.status = status
    followup.reviewed_by_id = actor.id
    followup.reviewed_at = utcnow()
    followup.updated_at = followup.reviewed_at
    followup.review_comment = comment
    flush_versioned()
