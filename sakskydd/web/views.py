"""The home page and the health check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import text

from sakskydd.accounts.forms import ConfirmForm
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import authorize
from sakskydd.extensions import db
from sakskydd.notifications.services import unread_notices

main = Blueprint("main", __name__)
health = Blueprint("health", __name__)


@main.route("/")
@authorize(perm.HOME_VIEW)
def home() -> Any:
    user = current_user._get_current_object()
    return render_template(
        "main/home.html",
        user=user,
        assignments=user.active_assignments,
        notices=unread_notices(user.id),
        form=ConfirmForm(),
    )


@health.route("/health")
def health_check() -> Any:
    db.execute(text("SELECT 1"))
    return jsonify(status="ok")
