"""Login (password, then TOTP or a recovery code), activation, enrolment and self-service."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from typing import Any

import segno
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from sakskydd import audit
from sakskydd.accounts import services
from sakskydd.accounts.forms import (
    ChangePasswordForm,
    CodeForm,
    ConfirmForm,
    LoginForm,
    NewPasswordForm,
    RecoveryForm,
    StepUpForm,
)
from sakskydd.accounts.models import User, UserSession
from sakskydd.accounts.passwords import Passwords
from sakskydd.accounts.sessions import ServerSession, end_user_sessions
from sakskydd.audit.models import AuditEvent
from sakskydd.audit.tags import Event
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import authorize
from sakskydd.db import utcnow
from sakskydd.extensions import db, login_manager
from sakskydd.notifications.services import mark_notices_read
from sakskydd.web.redirects import is_safe_path, safe_redirect, see_other

auth = Blueprint("auth", __name__)
account = Blueprint("account", __name__, url_prefix="/konto")

RATE_LIMITED_ENDPOINTS = (
    "auth.login",
    "auth.login_totp",
    "auth.login_recovery",
    "auth.enrol",
    "auth.activate",
    "account.step_up",
)
LOGIN_FAILED = "Inloggningen misslyckades. Kontrollera användarnamn och lösenord och försök igen."
CODE_FAILED = "Koden godtogs inte. Försök igen med en ny kod."
MAX_PENDING_ATTEMPTS = 5
HISTORY_PAGE_SIZE = 25


def passwords() -> Passwords:
    return current_app.extensions["sakskydd.passwords"]  # type: ignore[no-any-return]


def settings() -> Any:
    return current_app.config["SAKSKYDD_SETTINGS"]


def server_session() -> ServerSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(current, ServerSession)
    return current


def init_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"

    @login_manager.request_loader
    def _load_user_from_session(_request: Any) -> User | None:
        # Only a session whose second factor is done carries a user; roles and the active
        # flag are read fresh, so a disabled account or changed roles apply at once.
        current = session._get_current_object()  # type: ignore[attr-defined]
        if not isinstance(current, ServerSession) or current.user_id is None or current.mfa_at is None:
            return None
        # With the user's operator (a join): the pages name it, and a lazy load would cost a statement.
        user = db.get(User, current.user_id, options=[joinedload(User.operator)])
        if user is None or not user.is_active or not user.has_mfa:
            current.destroy()
            return None
        return user

    @login_manager.user_loader
    def _never_from_cookie(_user_id: str) -> None:
        return None  # Flask-Login's own cookie/session mechanism is not used


def _source_key() -> bytes:
    return current_app.extensions["sakskydd.keyring"].blind_index_key  # type: ignore[no-any-return]


# --- login ------------------------------------------------------------------------------------


def _start_pending(user: User, stage: str, next_path: str | None) -> None:
    current = server_session()
    current.clear()
    current.rotate()
    current["pending_user_id"] = str(user.id)
    current["pending_at"] = utcnow().isoformat()
    current["pending_stage"] = stage
    current["pending_attempts"] = 0
    if next_path and is_safe_path(next_path):
        current["next"] = next_path


def _pending_user(stage: str) -> User | None:
    """The user half-way through login, if the pending state is fresh and at this stage."""
    current = server_session()
    raw_id, raw_at = current.get("pending_user_id"), current.get("pending_at")
    if not raw_id or not raw_at or current.get("pending_stage") != stage:
        return None
    started = dt.datetime.fromisoformat(raw_at)
    if utcnow() - started > dt.timedelta(seconds=settings().pending_login_seconds):
        current.clear()
        return None
    user = db.get(User, uuid.UUID(raw_id))
    if user is None or not user.is_active:
        current.clear()
        return None
    return user


def _finish_login(user: User, method: str) -> Any:
    next_path = server_session().get("next")
    services.complete_login(
        user,
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string or "",
        source_key=_source_key(),
        method=method,
    )
    server_session().log_in(user.id, utcnow())
    db.commit()
    return safe_redirect(next_path)


@auth.route("/logga-in", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return safe_redirect(request.args.get("next"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    if form.is_submitted():
        if form.validate():
            outcome = services.check_password_login(
                form.username.data or "",
                form.password.data or "",
                passwords=passwords(),
                backoff_seconds=settings().login_backoff_seconds,
            )
            if outcome.ok and outcome.user is not None:
                user = outcome.user
                stage = "totp" if user.has_mfa else "enrol"
                if stage == "enrol":
                    services.start_totp_enrolment(user)
                _start_pending(user, stage, form.next.data)
                db.commit()
                return see_other("auth.login_totp" if stage == "totp" else "auth.enrol")
            db.commit()
        error = LOGIN_FAILED
    return render_template("auth/login.html", form=form, error=error)


def _second_factor(stage_endpoint: str, template: str, form: Any, check: Any, method: str) -> Any:
    user = _pending_user("totp")
    if user is None:
        flash("Inloggningen har gått ut. Logga in igen.", "info")
        return see_other("auth.login")
    error = None
    if form.is_submitted():
        current = server_session()
        attempts = int(current.get("pending_attempts", 0)) + 1
        current["pending_attempts"] = attempts
        ok = False
        if form.validate() and not services.second_factor_blocked(user, settings().login_backoff_seconds):
            ok = check(user, form.code.data or "")
        if ok:
            if method == "totp":
                audit.record(Event.AUTH_MFA_SUCCESS, actor=user.id, target=user)
            return _finish_login(user, method)
        services.register_failure(user, utcnow())
        audit.record(
            Event.AUTH_MFA_FAILURE,
            outcome="failure",
            target_type="user_account",
            target_id=str(user.id),
            detail={"method": method},
        )
        if attempts >= MAX_PENDING_ATTEMPTS:
            current.clear()
            db.commit()
            flash("För många felaktiga koder. Logga in igen.", "error")
            return see_other("auth.login")
        db.commit()
        error = CODE_FAILED
    return render_template(template, form=form, error=error)


@auth.route("/logga-in/kod", methods=["GET", "POST"])
def login_totp() -> Any:
    return _second_factor(
        "auth.login_totp",
        "auth/totp.html",
        CodeForm(),
        lambda user, code: services.verify_totp(user, code),
        "totp",
    )


@auth.route("/logga-in/aterstallningskod", methods=["GET", "POST"])
def login_recovery() -> Any:
    return _second_factor(
        "auth.login_recovery",
        "auth/recovery.html",
        RecoveryForm(),
        lambda user, code: services.use_recovery_code(user, code, passwords()),
        "recovery_code",
    )


def qr_svg(uri: str) -> Markup:
    """The provisioning URI as inline SVG (no script, no style attribute; CSP-safe)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer,
        kind="svg",
        scale=5,
        xmldecl=False,
        svgns=True,
        title="QR-kod för autentiseringsappen",
        svgclass="qr",
        lineclass=None,
    )
    return Markup(buffer.getvalue().decode("utf-8"))  # noqa: S704 - generated by segno from our own URI


def _enrolment_page(user: User, form: CodeForm, error: str | None, action_url: str) -> Any:
    secret = user.totp_pending_secret
    if not secret:
        abort(404)
    return render_template(
        "auth/enrol.html",
        form=form,
        error=error,
        secret=secret,
        action_url=action_url,
        qr=qr_svg(services.provisioning_uri(user, secret)),
    )


@auth.route("/logga-in/registrera", methods=["GET", "POST"])
def enrol() -> Any:
    """First TOTP enrolment, reachable only half-way through login of a user without MFA."""
    user = _pending_user("enrol")
    if user is None or user.has_mfa:
        flash("Inloggningen har gått ut. Logga in igen.", "info")
        return see_other("auth.login")
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = services.confirm_totp_enrolment(user, form.code.data or "", passwords())
        except services.AccountError as error:
            db.commit()
            return _enrolment_page(user, form, str(error), url_for("auth.enrol"))
        services.complete_login(
            user,
            ip=request.remote_addr or "",
            user_agent=request.user_agent.string or "",
            source_key=_source_key(),
            method="enrolment",
        )
        server_session().log_in(user.id, utcnow())
        db.commit()
        return render_template("auth/recovery_codes.html", codes=codes, first_time=True)
    return _enrolment_page(user, form, None, url_for("auth.enrol"))


@auth.route("/aktivera/<token>", methods=["GET", "POST"])
def activate(token: str) -> Any:
    form = NewPasswordForm()
    row = services.find_activation(token)
    if row is None:
        return render_template("auth/activate_invalid.html"), 404
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        return render_template("auth/activate_invalid.html"), 404
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            activated = services.activate_account(token, form.password.data or "", passwords())
        except services.PasswordRejected as rejected:
            errors = rejected.problems
        except services.TokenInvalid:
            db.rollback()
            return render_template("auth/activate_invalid.html"), 404
        else:
            stage = "totp" if activated.has_mfa else "enrol"
            if stage == "enrol":
                services.start_totp_enrolment(activated)
            _start_pending(activated, stage, None)
            db.commit()
            flash("Lösenordet är sparat. Nu registrerar du tvåstegsverifiering.", "success")
            return see_other("auth.login_totp" if stage == "totp" else "auth.enrol")
    return render_template("auth/activate.html", form=form, user=user, errors=errors)


@auth.route("/logga-ut", methods=["POST"])
def logout() -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    current = server_session()
    if current.user_id is not None:
        audit.record(
            Event.AUTH_LOGOUT,
            actor=current.user_id,
            target_type="user_account",
            target_id=str(current.user_id),
        )
        db.commit()
    current.destroy()
    # The session (and any flash in it) is gone; the login page says it from the query string.
    return see_other("auth.login", utloggad=1)


# --- self-service -----------------------------------------------------------------------------


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def load_self(**_kwargs: Any) -> User:
    return _me()


@account.route("", methods=["GET"])
@authorize(perm.ACCOUNT_READ_OWN, load=load_self)
def overview(user: User) -> Any:
    sessions = list(
        db.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.mfa_at.is_not(None))
            .order_by(UserSession.last_seen_at.desc())
        )
    )
    return render_template(
        "account/overview.html",
        user=user,
        sessions=sessions,
        current_id=server_session().session_id,
        form=ConfirmForm(),
        remaining_codes=services.remaining_recovery_codes(user.id),
    )


@account.route("/sessioner/<session_id>/avsluta", methods=["POST"])
@authorize(perm.ACCOUNT_END_OWN_SESSION, load=load_self)
def end_session(user: User, session_id: str) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        target_id = uuid.UUID(session_id)
    except ValueError:
        abort(404)
    row = db.scalar(select(UserSession).where(UserSession.id == target_id, UserSession.user_id == user.id))
    if row is None:
        abort(404)
    is_current = row.id == server_session().session_id
    db.delete(row)
    audit.record(
        Event.SESSION_ENDED, target_type="user_session", target_id=str(target_id), detail={"by": "self"}
    )
    db.commit()
    if is_current:
        server_session().destroy()
        return see_other("auth.login")
    flash("Sessionen är avslutad.", "success")
    return see_other("account.overview")


@account.route("/sessioner/avsluta-andra", methods=["POST"])
@authorize(perm.ACCOUNT_END_OWN_SESSION, load=load_self)
def end_other_sessions(user: User) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    ended = end_user_sessions(user.id, keep=server_session().session_id)
    audit.record(Event.SESSION_ENDED, target=user, detail={"by": "self", "count": ended})
    db.commit()
    flash(f"{ended} andra sessioner avslutades.", "success")
    return see_other("account.overview")


@account.route("/losenord", methods=["GET", "POST"])
@authorize(perm.ACCOUNT_CHANGE_PASSWORD, load=load_self)
def change_password(user: User) -> Any:
    form = ChangePasswordForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            services.change_password(
                user,
                form.current.data or "",
                form.password.data or "",
                passwords(),
                keep_session=server_session().session_id,
            )
        except services.PasswordRejected as rejected:
            errors = rejected.problems
        except services.AccountError as error:
            db.commit()
            errors = [str(error)]
        else:
            server_session().rotate()
            db.commit()
            flash("Lösenordet är bytt. Dina andra sessioner är avslutade.", "success")
            return see_other("account.overview")
    return render_template("account/password.html", form=form, errors=errors)


@account.route("/tvastegsverifiering", methods=["GET", "POST"])
@authorize(perm.ACCOUNT_CHANGE_MFA, load=load_self)
def change_mfa(user: User) -> Any:
    """Replace the TOTP secret: start (new pending secret), then confirm with a code from it."""
    start = ConfirmForm(prefix="start")
    form = CodeForm()
    if start.validate_on_submit():
        services.start_totp_enrolment(user)
        db.commit()
        return _enrolment_page(user, form, None, url_for("account.change_mfa"))
    if form.validate_on_submit():
        if not user.totp_pending_secret:
            return see_other("account.change_mfa")
        try:
            codes = services.confirm_totp_enrolment(user, form.code.data or "", passwords())
        except services.AccountError as error:
            db.commit()
            return _enrolment_page(user, form, str(error), url_for("account.change_mfa"))
        server_session().rotate()
        db.commit()
        return render_template("auth/recovery_codes.html", codes=codes, first_time=False)
    return render_template("account/mfa.html", start=start)


@account.route("/aterstallningskoder", methods=["GET", "POST"])
@authorize(perm.ACCOUNT_REGENERATE_RECOVERY_CODES, load=load_self)
def recovery_codes(user: User) -> Any:
    form = ConfirmForm()
    if form.validate_on_submit():
        codes = services.regenerate_recovery_codes(user, passwords())
        db.commit()
        return render_template("auth/recovery_codes.html", codes=codes, first_time=False)
    return render_template(
        "account/recovery_codes.html", form=form, remaining=services.remaining_recovery_codes(user.id)
    )


@account.route("/bekrafta", methods=["GET", "POST"])
@authorize(perm.ACCOUNT_STEP_UP, load=load_self)
def step_up(user: User) -> Any:
    form = StepUpForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    if form.validate_on_submit():
        blocked = services.second_factor_blocked(user, settings().login_backoff_seconds)
        password_ok = passwords().verify(user.password_hash, form.password.data or "") and not blocked
        code_ok = password_ok and services.verify_totp(user, form.code.data or "")
        if code_ok:
            audit.record(Event.AUTH_STEPUP_SUCCESS, target=user)
            server_session().stepped_up(utcnow())
            db.commit()
            return safe_redirect(form.next.data, "account.overview")
        services.register_failure(user, utcnow())
        audit.record(Event.AUTH_STEPUP_FAILURE, outcome="failure", target=user)
        db.commit()
        if not user.is_active or (user.locked_until and user.locked_until > utcnow()):
            server_session().destroy()
            return see_other("auth.login")
        error = "Lösenordet eller koden stämmer inte."
    return render_template("account/step_up.html", form=form, error=error)


HISTORY_EVENTS_LABELS = {
    "auth.login.success": "Inloggning",
    "auth.login.failure": "Misslyckad inloggning",
    "auth.login.locked": "Kontot spärrades tillfälligt",
    "auth.mfa.success": "Tvåstegsverifiering godkänd",
    "auth.mfa.failure": "Felaktig kod vid tvåstegsverifiering",
    "auth.mfa.enrolled": "Autentiseringsapp registrerad",
    "auth.mfa.reset": "Tvåstegsverifiering återställd av administratör",
    "auth.recovery.used": "Återställningskod använd",
    "auth.recovery.regenerated": "Nya återställningskoder skapade",
    "auth.logout": "Utloggning",
    "auth.password.changed": "Lösenordet byttes",
    "auth.activation.used": "Kontot aktiverades",
    "auth.stepup.success": "Identiteten bekräftades",
    "auth.stepup.failure": "Misslyckad bekräftelse av identitet",
    "session.ended": "Session avslutad",
    "session.expired": "Session gick ut",
    "account.created": "Kontot skapades",
    "account.updated": "Kontouppgifter ändrades",
    "account.disabled": "Kontot inaktiverades",
    "account.enabled": "Kontot aktiverades igen",
    "role.requested": "Roll begärd",
    "role.granted": "Roll tilldelad",
    "role.approved": "Roll godkänd",
    "role.rejected": "Roll avslogs",
    "role.revoked": "Roll återkallad",
    "clearance.changed": "Behörighetsnivå ändrad",
}


@account.route("/historik", methods=["GET"])
@authorize(perm.ACCOUNT_READ_OWN, load=load_self)
def history(user: User) -> Any:
    page = max(request.args.get("sida", 1, type=int) or 1, 1)
    about_me = or_(
        AuditEvent.actor_id == user.id,
        (AuditEvent.target_type == "user_account") & (AuditEvent.target_id == str(user.id)),
    )
    security_events = AuditEvent.event.in_(list(HISTORY_EVENTS_LABELS))
    total = db.scalar(select(func.count()).select_from(AuditEvent).where(about_me, security_events)) or 0
    pages = max((total + HISTORY_PAGE_SIZE - 1) // HISTORY_PAGE_SIZE, 1)
    # A page past the end shows the last one; a huge number must not reach OFFSET (integer overflow).
    page = min(page, pages)
    rows = list(
        db.scalars(
            select(AuditEvent)
            .where(about_me, security_events)
            .order_by(AuditEvent.seq.desc())
            .offset((page - 1) * HISTORY_PAGE_SIZE)
            .limit(HISTORY_PAGE_SIZE)
        )
    )
    entries = []
    for row in rows:
        payload = json.loads(row.payload)
        entries.append(
            {
                "at": row.occurred_at,
                "label": HISTORY_EVENTS_LABELS.get(row.event, row.event),
                "outcome": row.outcome,
                "ip": (payload.get("source") or {}).get("ip", ""),
                "by_other": row.actor_id is not None and row.actor_id != user.id,
            }
        )
    return render_template("account/history.html", entries=entries, page=page, pages=pages, total=total)


@account.route("/notiser/lasta", methods=["POST"])
@authorize(perm.ACCOUNT_READ_OWN, load=load_self)
def notices_read(user: User) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    mark_notices_read(user.id)
    db.commit()
    return see_other("main.home")
