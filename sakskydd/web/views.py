"""The home page (the user's to-do list, notices and roles) and the health check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, url_for
from flask_login import current_user
from sqlalchemy import select, text
from sqlalchemy.orm import joinedload
from werkzeug.routing import BuildError

from sakskydd.accounts.forms import ConfirmForm
from sakskydd.accounts.models import AssignmentStatus, RoleAssignment
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import authorize
from sakskydd.deadlines import DueItem, due_items_for_user, link_target, local_date, local_today, reminded_on
from sakskydd.extensions import db
from sakskydd.notifications.services import unread_notices

main = Blueprint("main", __name__)
health = Blueprint("health", __name__)


@dataclass(frozen=True)
class TodoRow:
    item: DueItem
    link: str | None
    reminded_on: dt.date | None  # the last reminder of this item to the user (SentReminder)


def url_if_exists(endpoint: str, **values: Any) -> str | None:
    """The URL of an endpoint, or None while that page does not exist (yet)."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def item_link(item: DueItem) -> str | None:
    endpoint, values = link_target(item)
    return url_if_exists(endpoint, **values)


@main.route("/")
@authorize(perm.HOME_VIEW)
def home() -> Any:
    user = current_user._get_current_object()
    items = due_items_for_user(user, local_today())
    reminders = reminded_on(user.id, items)
    todo = []
    for item in items:
        reminded_at = reminders.get((item.kind.value, str(item.subject_id)))
        todo.append(TodoRow(item, item_link(item), local_date(reminded_at) if reminded_at else None))
    # One statement for the roles table, however many units the user has roles in.
    assignments = list(
        db.scalars(
            select(RoleAssignment)
            .options(joinedload(RoleAssignment.unit), joinedload(RoleAssignment.operator))
            .where(RoleAssignment.user_id == user.id, RoleAssignment.status == AssignmentStatus.ACTIVE)
            .order_by(RoleAssignment.created_at)
        )
    )
    return render_template(
        "main/home.html",
        user=user,
        todo=todo,
        assignments=assignments,
        notices=unread_notices(user.id),
        form=ConfirmForm(),
    )


@health.route("/health")
def health_check() -> Any:
    db.execute(text("SELECT 1"))
    return jsonify(status="ok")
