"""sakskydd: säkerhetsskydd case management. `create_app` assembles the app in named steps."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, request, session
from jinja2 import select_autoescape
from werkzeug.middleware.proxy_fix import ProxyFix

from sakskydd.config import ConfigError, Settings
from sakskydd.resources import resource_dir

POLICIES_DIR = resource_dir("policies")

log = logging.getLogger("sakskydd")


def create_app(settings: Settings | None = None, *, load_keys: bool = True) -> Flask:
    """Build the application; raises ConfigError (or a key/policy error) instead of starting unsafe."""
    settings = settings or Settings.from_env()
    settings.validate()
    # Every model first: the first query configures the mappers, and a relationship named by
    # string (vetting's Position → SecurityAnalysis) must find its class whatever was imported.
    import sakskydd.models  # noqa: F401

    app = Flask(
        "sakskydd",
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
        instance_path=str(settings.instance_path),
    )
    _configure(app, settings)
    _bind_database(app, settings)
    _bind_extensions(app, settings)
    _load_policies(app)
    if load_keys:
        _load_keys(app)
        _record_policy_load(app)
    _register_blueprints(app)
    _apply_rate_limits(app, settings)
    _register_cli(app)
    return app


def _configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        SAKSKYDD_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        MAX_FORM_MEMORY_SIZE=settings.max_content_length,
        DEBUG=settings.debug,
        TESTING=settings.environment == "test",
        PREFERRED_URL_SCHEME="https" if settings.is_production else "http",
        # Our Referrer-Policy is no-referrer, so Flask-WTF's HTTPS referrer check would fail
        # every form; the Origin/Sec-Fetch-Site check in web.hardening replaces it.
        WTF_CSRF_SSL_STRICT=False,
        WTF_CSRF_TIME_LIMIT=None,
        # WTForms' own messages come from its Swedish catalogue (web/formbase.py), not Babel.
        WTF_I18N_ENABLED=False,
        SESSION_COOKIE_NAME="__Host-sakskydd",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_url,
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        RATELIMIT_HEADERS_ENABLED=False,
    )
    # Every template is escaped except plain-text e-mail bodies (templates/mail/*.txt), which are
    # not HTML: escaping would garble names and links there.
    app.jinja_env.autoescape = select_autoescape(
        enabled_extensions=("html", "htm", "xml"),
        disabled_extensions=("txt",),
        default_for_string=True,
        default=True,
    )
    # Links to another part of the app are shown only when that part is installed.
    app.jinja_env.globals["has_endpoint"] = lambda name: name in app.view_functions
    # A stored timestamp shown as a date is the city's calendar date (as in Att göra), not UTC's.
    from sakskydd.deadlines import local_date

    app.jinja_env.filters["day"] = lambda moment: local_date(moment).isoformat()
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )


def _bind_database(app: Flask, settings: Settings) -> None:
    from sakskydd.extensions import Database

    database = Database(settings.database_url)
    app.extensions["sakskydd.db"] = database

    # Each request ends its database session, also when an outer app context stays pushed
    # (CLI commands, tests): no identity map outlives a request.
    app.teardown_request(database.remove)
    app.teardown_appcontext(database.remove)


def _bind_extensions(app: Flask, settings: Settings) -> None:
    from flask_limiter import Limiter

    from sakskydd import audit
    from sakskydd.accounts.passwords import Passwords, make_hasher
    from sakskydd.accounts.sessions import ServerSessionInterface
    from sakskydd.extensions import client_ip, csrf, login_manager
    from sakskydd.web import errors, hardening

    app.session_interface = ServerSessionInterface(
        settings.session_idle_seconds, settings.session_absolute_seconds, settings.pending_login_seconds
    )
    app.extensions["sakskydd.passwords"] = Passwords(make_hasher(settings.argon2_profile))
    hardening.init_app(app)
    errors.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    app.extensions["sakskydd.limiter"] = Limiter(
        key_func=client_ip, app=app, storage_uri=settings.ratelimit_storage_url, default_limits=[]
    )
    audit.set_context_provider(_audit_context)
    audit.init_app(app)


def _audit_context() -> dict[str, Any] | None:
    """Actor and source of the current request for audit events (hashed session id, never the token)."""
    from flask import has_request_context

    from sakskydd.accounts.sessions import ServerSession

    if not has_request_context():
        return None
    context: dict[str, Any] = {
        "source": {"ip": request.remote_addr or "", "request_id": getattr(g, "request_id", "")},
    }
    try:
        current = session._get_current_object()  # type: ignore[attr-defined]
    except AssertionError:  # the session is still being opened (e.g. expiring a timed-out one)
        current = None
    if isinstance(current, ServerSession) and current.user_id is not None:
        context["actor_id"] = current.user_id
        if current.session_id is not None:
            import hashlib

            context["session"] = hashlib.sha256(current.session_id.bytes).hexdigest()[:16]
        if current.mfa_at is not None:
            from sakskydd.db import utcnow

            context["mfa_age_seconds"] = int((utcnow() - current.mfa_at).total_seconds())
        context.update(_evaluated_actor(current.user_id))
    decision = g.get("decision")
    if decision is not None and g.get("decision_action"):
        context["decision"] = {
            "action": g.decision_action,
            "policy_ids": list(decision.policy_ids),
            "bundle_hash": decision.bundle_hash,
        }
    return context


def _evaluated_actor(user_id: Any) -> dict[str, Any]:
    """The roles, units and clearance the request's decisions were made with (SECURITY.md)."""
    cached = g.get("_authz_user_entities")
    if not cached or cached[0] != user_id:
        return {}
    attrs = next((e["attrs"] for e in cached[1] if e["uid"]["type"].endswith("::User")), None)
    if attrs is None:
        return {}
    roles: dict[str, list[str]] = {}
    for name, value in attrs.items():
        if name.endswith(("_units", "_operators")) and value:
            roles[name] = sorted(item["__entity"]["id"] for item in value)
    return {"clearance": attrs.get("clearance"), "roles": roles}


def _load_keys(app: Flask) -> None:
    from sakskydd import crypto

    with app.app_context():
        crypto.init_app(app)


def _load_policies(app: Flask) -> None:
    from sakskydd.authz.engine import PolicyEngine

    # Policies ship with the code, never from a writable instance folder.
    engine = PolicyEngine.load(POLICIES_DIR)
    app.extensions["sakskydd.policy"] = engine


def _record_policy_load(app: Flask) -> None:
    from sakskydd import audit
    from sakskydd.audit.tags import Event
    from sakskydd.extensions import db

    with app.app_context():
        audit.record(
            Event.POLICY_LOADED, detail={"bundle_hash": app.extensions["sakskydd.policy"].bundle_hash}
        )
        db.commit()


def _register_blueprints(app: Flask) -> None:
    from sakskydd.accounts.views import account, auth
    from sakskydd.admin.views import admin
    from sakskydd.analyses.views import analyses
    from sakskydd.assets.views import assets
    from sakskydd.auditing.views import auditing
    from sakskydd.authz import enforcement
    from sakskydd.followup.views import followup
    from sakskydd.organisations.views import units
    from sakskydd.oversight.views import oversight
    from sakskydd.procurements.views import procurements
    from sakskydd.vetting.views import vetting
    from sakskydd.web.views import health, main

    enforcement.init_app(app)
    for blueprint in (
        health,
        auth,
        main,
        account,
        admin,
        units,
        analyses,
        assets,
        procurements,
        vetting,
        followup,
        oversight,
        auditing,
    ):
        app.register_blueprint(blueprint)
    from sakskydd.accounts.views import init_login

    init_login(app)


def _apply_rate_limits(app: Flask, settings: Settings) -> None:
    from sakskydd.accounts.views import RATE_LIMITED_ENDPOINTS

    limiter = app.extensions["sakskydd.limiter"]
    for endpoint in RATE_LIMITED_ENDPOINTS:
        view = app.view_functions[endpoint]
        limited = limiter.limit(settings.ratelimit_login, methods=["POST"])(view)
        for attr in ("__sakskydd_action__",):
            if hasattr(view, attr):
                setattr(limited, attr, getattr(view, attr))
        app.view_functions[endpoint] = limited


def _register_cli(app: Flask) -> None:
    from sakskydd.cli import register_commands

    register_commands(app)


__all__ = ["ConfigError", "Settings", "create_app"]
