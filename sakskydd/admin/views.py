"""Administration: accounts, role assignments, operators and units. No case content here."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, current_app, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from sakskydd.accounts.forms import ConfirmForm
from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User, UserSession
from sakskydd.admin import services
from sakskydd.admin.forms import (
    CLEARANCE_LABELS,
    OPERATOR_KIND_LABELS,
    ROLE_LABELS,
    UNIT_KIND_LABELS,
    ClearanceForm,
    OperatorCreateForm,
    OperatorEditForm,
    RoleGrantForm,
    UnitEditForm,
    UnitForm,
    UserCreateForm,
    UserEditForm,
)
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import authorize, parse_uuid, require
from sakskydd.extensions import db
from sakskydd.notifications.mail import send_mail
from sakskydd.organisations.models import Operator, OperatorKind, OrgUnit, UnitKind
from sakskydd.web.redirects import safe_redirect, see_other

admin = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 25
USER_SORTS = {
    "namn": User.display_name,
    "anvandarnamn": User.username,
    "skapad": User.created_at,
    "senast": User.last_login_at,
}


@admin.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "ROLE_LABELS": ROLE_LABELS,
        "CLEARANCE_LABELS": CLEARANCE_LABELS,
        "OPERATOR_KIND_LABELS": OPERATOR_KIND_LABELS,
        "UNIT_KIND_LABELS": UNIT_KIND_LABELS,
    }


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _scope() -> set[uuid.UUID]:
    return services.administered_operator_ids(_me())


def _settings() -> Any:
    return current_app.config["SAKSKYDD_SETTINGS"]


# --- loaders: scoped by organisation in SQL, so foreign ids look like missing ones (404) -------


def load_user(user_id: str, **_: Any) -> User | None:
    ident = parse_uuid(user_id)
    if ident is None:
        return None
    return db.scalar(select(User).where(User.id == ident, User.operator_id.in_(_scope())))


def load_assignment(assignment_id: str, **_: Any) -> RoleAssignment | None:
    ident = parse_uuid(assignment_id)
    if ident is None:
        return None
    scope = _scope()
    return db.scalar(
        select(RoleAssignment)
        .outerjoin(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .where(
            RoleAssignment.id == ident,
            or_(RoleAssignment.operator_id.in_(scope), OrgUnit.operator_id.in_(scope)),
        )
    )


def load_operator(operator_id: str, **_: Any) -> Operator | None:
    ident = parse_uuid(operator_id)
    if ident is None or ident not in _scope():
        return None
    return db.get(Operator, ident)


def load_unit(unit_id: str, **_: Any) -> OrgUnit | None:
    ident = parse_uuid(unit_id)
    if ident is None:
        return None
    return db.scalar(select(OrgUnit).where(OrgUnit.id == ident, OrgUnit.operator_id.in_(_scope())))


def _operators_in_scope() -> list[Operator]:
    return list(db.scalars(select(Operator).where(Operator.id.in_(_scope())).order_by(Operator.name)))


def _activation_url(token: str) -> str:
    return _settings().base_url + url_for("auth.activate", token=token)


def _send_activation(user: User, token: str) -> str:
    link = _activation_url(token)
    body = render_template("mail/activation.txt", user=user, link=link, hours=_settings().activation_hours)
    send_mail(user.email, "Aktivera ditt konto i sakskydd", body)
    return link


# --- users ------------------------------------------------------------------------------------


@admin.route("/anvandare")
@authorize(perm.ADMIN_USER_LIST)
def users() -> Any:
    query = (request.args.get("q") or "").strip()[:100]
    sort = request.args.get("sortera", "namn")
    sort_column = USER_SORTS.get(sort, User.display_name)
    page = max(request.args.get("sida", 1, type=int) or 1, 1)
    conditions = [User.operator_id.in_(_scope())]
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                User.username.ilike(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
                User.email.ilike(pattern, escape="\\"),
            )
        )
    total = db.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    # A page past the end shows the last one; a huge number must not reach OFFSET (integer overflow).
    page = min(page, pages)
    rows = list(
        db.scalars(
            select(User)
            .where(*conditions)
            .options(selectinload(User.assignments), selectinload(User.operator))
            .order_by(sort_column.is_(None), sort_column, User.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    return render_template(
        "admin/users.html",
        users=rows,
        q=query,
        sort=sort,
        page=page,
        pages=pages,
        total=total,
        sorts=list(USER_SORTS),
    )


@admin.route("/anvandare/ny", methods=["GET", "POST"])
@authorize(perm.ADMIN_USER_LIST)
def user_new() -> Any:
    form = UserCreateForm()
    operators = _operators_in_scope()
    form.operator.choices = [(str(op.id), op.name) for op in operators]
    error = None
    if form.validate_on_submit():
        operator = next((op for op in operators if str(op.id) == form.operator.data), None)
        if operator is None:
            abort(404)
        require(perm.ADMIN_USER_CREATE, operator)
        try:
            user, token = services.create_user(
                _me(),
                username=form.username.data or "",
                display_name=form.display_name.data or "",
                email=form.email.data or "",
                operator=operator,
                activation_hours=_settings().activation_hours,
            )
        except services.AdminError as exc:
            db.rollback()
            error = str(exc)
        else:
            link = _send_activation(user, token)
            db.commit()
            return render_template("admin/activation_link.html", user=user, link=link, created=True)
    return render_template("admin/user_new.html", form=form, error=error)


@admin.route("/anvandare/<user_id>")
@authorize(perm.ADMIN_USER_READ, load=load_user)
def user_detail(user: User, user_id: str) -> Any:
    assignments = list(
        db.scalars(
            select(RoleAssignment)
            .where(RoleAssignment.user_id == user.id)
            .options(selectinload(RoleAssignment.unit), selectinload(RoleAssignment.operator))
            .order_by(RoleAssignment.created_at.desc())
        )
    )
    session_count = db.scalar(
        select(func.count())
        .select_from(UserSession)
        .where(UserSession.user_id == user.id, UserSession.mfa_at.is_not(None))
    )
    grant = RoleGrantForm()
    grant.scope.choices = _scope_choices()
    grant.next.data = request.path
    clearance = ClearanceForm(clearance=str(user.clearance), version=user.version)
    clearance.next.data = request.path
    return render_template(
        "admin/user_detail.html",
        user=user,
        assignments=assignments,
        session_count=session_count,
        grant=grant,
        clearance=clearance,
        form=ConfirmForm(next=request.path),
    )


def _scope_choices() -> list[tuple[str, str]]:
    choices: list[tuple[str, str]] = []
    for operator in _operators_in_scope():
        choices.append((f"operator:{operator.id}", f"{operator.name} (hela verksamhetsutövaren)"))
        for unit in db.scalars(
            select(OrgUnit)
            .where(OrgUnit.operator_id == operator.id, OrgUnit.is_active.is_(True))
            .order_by(OrgUnit.name)
        ):
            choices.append((f"unit:{unit.id}", f"{operator.name} – {unit.name}"))
    return choices


@admin.route("/anvandare/<user_id>/redigera", methods=["GET", "POST"])
@authorize(perm.ADMIN_USER_UPDATE, load=load_user)
def user_edit(user: User, user_id: str) -> Any:
    form = UserEditForm(obj=user)
    error = None
    if form.validate_on_submit():
        try:
            services.update_user(
                _me(),
                user,
                display_name=form.display_name.data or "",
                email=form.email.data or "",
                version=form.version.data,
            )
        except services.AdminError as exc:
            db.rollback()
            error = str(exc)
        else:
            db.commit()
            flash("Uppgifterna är sparade.", "success")
            return see_other("admin.user_detail", user_id=user.id)
    return render_template("admin/user_edit.html", form=form, user=user, error=error)


@admin.route("/anvandare/<user_id>/ny-aktiveringslank", methods=["POST"])
@authorize(perm.ADMIN_USER_UPDATE, load=load_user)
def user_resend_activation(user: User, user_id: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        token = services.resend_activation(_me(), user, activation_hours=_settings().activation_hours)
    except services.AdminError as exc:
        db.rollback()
        flash(str(exc), "error")
        return see_other("admin.user_detail", user_id=user.id)
    link = _send_activation(user, token)
    db.commit()
    return render_template("admin/activation_link.html", user=user, link=link, created=False)


def _confirmed_action(user: User, template: str, action: Any, done: str) -> Any:
    """GET shows a confirmation page; POST performs the action."""
    form = ConfirmForm()
    if request.method == "GET":
        return render_template(template, user=user, form=form)
    if not form.validate_on_submit():
        abort(400)
    try:
        action()
    except services.AdminError as exc:
        db.rollback()
        flash(str(exc), "error")
    else:
        db.commit()
        flash(done, "success")
    return see_other("admin.user_detail", user_id=user.id)


@admin.route("/anvandare/<user_id>/inaktivera", methods=["GET", "POST"])
@authorize(perm.ADMIN_USER_DISABLE, load=load_user)
def user_disable(user: User, user_id: str) -> Any:
    return _confirmed_action(
        user,
        "admin/confirm_disable.html",
        lambda: services.set_user_active(_me(), user, active=False),
        "Kontot är inaktiverat och alla sessioner är avslutade.",
    )


@admin.route("/anvandare/<user_id>/aktivera", methods=["POST"])
@authorize(perm.ADMIN_USER_ENABLE, load=load_user)
def user_enable(user: User, user_id: str) -> Any:
    return _confirmed_action(
        user,
        "admin/confirm_disable.html",
        lambda: services.set_user_active(_me(), user, active=True),
        "Kontot är aktivt igen.",
    )


@admin.route("/anvandare/<user_id>/aterstall-tvastegsverifiering", methods=["GET", "POST"])
@authorize(perm.ADMIN_USER_RESET_MFA, load=load_user)
def user_reset_mfa(user: User, user_id: str) -> Any:
    return _confirmed_action(
        user,
        "admin/confirm_reset_mfa.html",
        lambda: services.reset_mfa(_me(), user),
        "Tvåstegsverifieringen är återställd. Personen registrerar en ny app vid nästa inloggning.",
    )


@admin.route("/anvandare/<user_id>/avsluta-sessioner", methods=["POST"])
@authorize(perm.ADMIN_USER_END_SESSIONS, load=load_user)
def user_end_sessions(user: User, user_id: str) -> Any:
    return _confirmed_action(
        user,
        "admin/confirm_disable.html",
        lambda: services.end_sessions(_me(), user),
        "Personens sessioner är avslutade.",
    )


@admin.route("/anvandare/<user_id>/behorighetsniva", methods=["POST"])
@authorize(perm.ADMIN_CLEARANCE_SET, load=load_user)
def user_clearance(user: User, user_id: str) -> Any:
    form = ClearanceForm()
    if not form.validate_on_submit():
        flash("Välj en behörighetsnivå.", "error")
        return see_other("admin.user_detail", user_id=user.id)
    try:
        services.set_clearance(_me(), user, int(form.clearance.data or 0), version=form.version.data)
    except (services.AdminError, ValueError) as exc:
        db.rollback()
        flash(str(exc) if isinstance(exc, services.AdminError) else "Okänd behörighetsnivå.", "error")
    else:
        db.commit()
        flash("Behörighetsnivån är ändrad.", "success")
    return see_other("admin.user_detail", user_id=user.id)


@admin.route("/anvandare/<user_id>/roller", methods=["POST"])
@authorize(perm.ADMIN_ROLE_GRANT, load=load_user)
def role_grant(user: User, user_id: str) -> Any:
    form = RoleGrantForm()
    form.scope.choices = _scope_choices()
    if not form.validate_on_submit():
        flash("Välj roll och vad rollen gäller för.", "error")
        return see_other("admin.user_detail", user_id=user.id)
    kind, _, raw_id = (form.scope.data or "").partition(":")
    unit = load_unit(raw_id) if kind == "unit" else None
    operator = load_operator(raw_id) if kind == "operator" else None
    if unit is None and operator is None:
        abort(404)
    require(perm.ADMIN_ROLE_GRANT, unit or operator)
    role = Role(form.role.data)
    if unit is not None and role.scope == "operator":
        operator, unit = unit.operator, None
    elif operator is not None and role.scope == "unit":
        flash("Rollen ges per enhet. Välj en enhet.", "error")
        return see_other("admin.user_detail", user_id=user.id)
    try:
        assignment = services.grant_role(_me(), user, role, unit=unit, operator=operator)
    except services.AdminError as exc:
        db.rollback()
        flash(str(exc), "error")
    else:
        db.commit()
        if assignment.status == AssignmentStatus.PENDING:
            flash("Begäran är registrerad. En annan administratör måste godkänna den.", "info")
        else:
            flash("Rollen är tilldelad.", "success")
    return see_other("admin.user_detail", user_id=user.id)


def _decide(assignment: RoleAssignment, approve: bool) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.decide_role_request(_me(), assignment, approve=approve)
    except services.AdminError as exc:
        db.rollback()
        flash(str(exc), "error")
    else:
        db.commit()
        flash("Rollen är godkänd." if approve else "Begäran är avslagen.", "success")
    return safe_redirect(request.form.get("next"), "admin.approvals")


@admin.route("/roller/<assignment_id>/godkann", methods=["POST"])
@authorize(perm.ADMIN_ROLE_APPROVE, load=load_assignment)
def role_approve(assignment: RoleAssignment, assignment_id: str) -> Any:
    return _decide(assignment, True)


@admin.route("/roller/<assignment_id>/avsla", methods=["POST"])
@authorize(perm.ADMIN_ROLE_REJECT, load=load_assignment)
def role_reject(assignment: RoleAssignment, assignment_id: str) -> Any:
    return _decide(assignment, False)


@admin.route("/roller/<assignment_id>/aterkalla", methods=["POST"])
@authorize(perm.ADMIN_ROLE_REVOKE, load=load_assignment)
def role_revoke(assignment: RoleAssignment, assignment_id: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.revoke_role(_me(), assignment)
    except services.AdminError as exc:
        db.rollback()
        flash(str(exc), "error")
    else:
        db.commit()
        flash("Rollen är återkallad.", "success")
    return see_other("admin.user_detail", user_id=assignment.user_id)


@admin.route("/godkannanden")
@authorize(perm.ADMIN_APPROVALS_LIST)
def approvals() -> Any:
    scope = _scope()
    pending = list(
        db.scalars(
            select(RoleAssignment)
            .outerjoin(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
            .where(
                RoleAssignment.status == AssignmentStatus.PENDING,
                or_(RoleAssignment.operator_id.in_(scope), OrgUnit.operator_id.in_(scope)),
            )
            .options(
                selectinload(RoleAssignment.user),
                selectinload(RoleAssignment.granted_by),
                selectinload(RoleAssignment.operator),
                selectinload(RoleAssignment.unit),
            )
            .order_by(RoleAssignment.created_at)
        )
    )
    return render_template(
        "admin/approvals.html", pending=pending, form=ConfirmForm(next=request.path), me=_me()
    )


# --- operators and units ----------------------------------------------------------------------


@admin.route("/verksamhetsutovare")
@authorize(perm.ADMIN_OPERATOR_LIST)
def operators() -> Any:
    rows = _operators_in_scope()
    counts = dict(
        db.execute(
            select(OrgUnit.operator_id, func.count())
            .where(OrgUnit.operator_id.in_(_scope()))
            .group_by(OrgUnit.operator_id)
        ).all()
    )
    return render_template("admin/operators.html", operators=rows, counts=counts)


@admin.route("/verksamhetsutovare/ny", methods=["GET", "POST"])
@authorize(perm.ADMIN_OPERATOR_CREATE)
def operator_new() -> Any:
    form = OperatorCreateForm()
    parents = [op for op in _operators_in_scope() if op.kind == OperatorKind.KOMMUN]
    form.parent.choices = [("", "– ingen –")] + [(str(op.id), op.name) for op in parents]
    error = None
    if form.validate_on_submit():
        parent = next((op for op in parents if str(op.id) == form.parent.data), None)
        try:
            operator = services.create_operator(
                _me(),
                name=form.name.data or "",
                kind=OperatorKind(form.kind.data),
                org_number=form.org_number.data,
                parent=parent,
            )
        except services.AdminError as exc:
            db.rollback()
            error = str(exc)
        else:
            db.commit()
            flash("Verksamhetsutövaren är skapad.", "success")
            return (
                see_other("admin.units", operator_id=operator.id) if parent else see_other("admin.operators")
            )
    return render_template("admin/operator_form.html", form=form, error=error, operator=None)


@admin.route("/verksamhetsutovare/<operator_id>/redigera", methods=["GET", "POST"])
@authorize(perm.ADMIN_OPERATOR_UPDATE, load=load_operator)
def operator_edit(operator: Operator, operator_id: str) -> Any:
    form = OperatorEditForm(obj=operator)
    error = None
    if form.validate_on_submit():
        try:
            services.update_operator(
                _me(),
                operator,
                name=form.name.data or "",
                org_number=form.org_number.data,
                is_active=bool(form.is_active.data),
                version=form.version.data,
            )
        except services.AdminError as exc:
            db.rollback()
            error = str(exc)
        else:
            db.commit()
            flash("Uppgifterna är sparade.", "success")
            return see_other("admin.operators")
    return render_template("admin/operator_form.html", form=form, error=error, operator=operator)


@admin.route("/verksamhetsutovare/<operator_id>/enheter")
@authorize(perm.ADMIN_UNIT_LIST, load=load_operator)
def units(operator: Operator, operator_id: str) -> Any:
    rows = list(
        db.scalars(
            select(OrgUnit).where(OrgUnit.operator_id == operator.id).order_by(OrgUnit.kind, OrgUnit.name)
        )
    )
    return render_template("admin/units.html", operator=operator, units=rows)


@admin.route("/verksamhetsutovare/<operator_id>/enheter/ny", methods=["GET", "POST"])
@authorize(perm.ADMIN_UNIT_CREATE, load=load_operator)
def unit_new(operator: Operator, operator_id: str) -> Any:
    form = UnitForm()
    error = None
    if form.validate_on_submit():
        try:
            services.create_unit(_me(), operator, name=form.name.data or "", kind=UnitKind(form.kind.data))
        except services.AdminError as exc:
            db.rollback()
            error = str(exc)
        else:
            db.commit()
            flash("Enheten är skapad.", "success")
            return see_other("admin.units", operator_id=operator.id)
    return render_template("admin/unit_form.html", form=form, error=error, operator=operator, unit=None)


@admin.route("/enheter/<unit_id>/redigera", methods=["GET", "POST"])
@authorize(perm.ADMIN_UNIT_UPDATE, load=load_unit)
def unit_edit(unit: OrgUnit, unit_id: str) -> Any:
    form = UnitEditForm(obj=unit)
    error = None
    if form.validate_on_submit():
        try:
            services.update_unit(
                _me(),
                unit,
                name=form.name.data or "",
                kind=UnitKind(form.kind.data),
                is_active=bool(form.is_active.data),
                version=form.version.data,
            )
        except services.AdminError as exc:
            db.rollback()
            error = str(exc)
        else:
            db.commit()
            flash("Enheten är sparad.", "success")
            return see_other("admin.units", operator_id=unit.operator_id)
    return render_template("admin/unit_form.html", form=form, error=error, operator=unit.operator, unit=unit)
