"""The one way a view carries out a service call: commit and flash on success; roll back and keep
the Swedish message on a broken rule (409 when someone else saved first)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash, request

from sakskydd.classification import ClassificationAboveCeiling
from sakskydd.extensions import db
from sakskydd.records import DomainError, StaleRecord


@dataclass
class Outcome:
    done: bool
    value: Any = None
    error: str | None = None
    status: int = 200
    exception: Exception | None = None

    @property
    def stale(self) -> bool:
        return self.status == 409


def carry_out(action: Callable[[], Any], success: str | None) -> Outcome:
    """Run `action` (a service call) and end the request's transaction accordingly."""
    try:
        value = action()
    except StaleRecord as exc:
        db.rollback()
        return Outcome(False, error=str(exc), status=409, exception=exc)
    except (DomainError, ClassificationAboveCeiling) as exc:
        db.rollback()
        return Outcome(False, error=str(exc), exception=exc)
    db.commit()
    if success:
        flash(success, "success")
    return Outcome(True, value=value)


def submit(
    form: Any, action: Callable[[], Any], success: str | None, *, record: Any = None
) -> tuple[Outcome, list[str]]:
    """A form page's POST: validate, then carry_out(action). Returns the outcome and the errors
    to show (the form's, or the service's). On a stale version the form takes the record's
    current one, so saving again overwrites knowingly. A GET gives an undone outcome, no errors."""
    if form.validate_on_submit():
        outcome = carry_out(action, success)
        if outcome.stale and record is not None:
            form.version.data = record.version
            form.version.raw_data = [str(record.version)]
        return outcome, [] if outcome.done else [outcome.error or ""]
    return Outcome(False), form.error_messages() if request.method == "POST" else []
