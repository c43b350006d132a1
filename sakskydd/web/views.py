"""The home page (the user's to-do list, notices and roles) and the health check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select, text
from sqlalchemy.orm import joinedload
from werkzeug.routing import BuildError

from sakskydd.accounts.forms import ConfirmForm
from sakskydd.accounts.models import AssignmentStatus, RoleAssignment
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import authorize
from sakskydd.deadlines import (
    DueItem,
    Rules,
    due_items_for_user,
    due_list_for_user,
    link_target,
    local_date,
    local_today,
    reminded_on,
)
from sakskydd.extensions import db
from sakskydd.notifications.services import unread_notices
from sakskydd.web.listing import Page, page_for

main = Blueprint("main", __name__)
health = Blueprint("health", __name__)

# The whole "Att göra" list (?visa=alla), per page.
TODO_PAGE_SIZE: Final = 50


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
    """The home page. "Att göra" lists what is overdue or due within the reminder lead time,
    with the number of later items and a link to them all (?visa=alla, paged by ?sida=)."""
    user = current_user._get_current_object()
    today = local_today()
    rules = Rules.from_settings(current_app.config["SAKSKYDD_SETTINGS"])
    show_all = request.args.get("visa") == "alla"
    horizon: dt.date | None = None
    page: Page | None = None
    if show_all:
        items = due_items_for_user(user, today, rules=rules)
        later = 0
        page = page_for(len(items), request.args.get("sida", 1, type=int), TODO_PAGE_SIZE)
        shown = items[page.offset : page.offset + page.size]
    else:
        horizon = today + dt.timedelta(days=rules.reminder_lead_days)
        due = due_list_for_user(user, today, horizon, rules=rules)
        items = shown = due.items
        later = due.later
    reminders = reminded_on(user.id, shown)
    todo = []
    for item in shown:
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
        todo_total=len(items),
        todo_overdue=sum(1 for item in items if item.overdue),
        todo_later=later,
        todo_horizon=horizon,
        todo_page=page,
        lead_days=rules.reminder_lead_days,
        assignments=assignments,
        notices=unread_notices(user.id),
        form=ConfirmForm(),
    )


@health.route("/health")
def health_check() -> Any:
    db.execute(text("SELECT 1"))
    return jsonify(status="ok")
