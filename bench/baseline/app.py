"""The reference page: a bare Flask app with the application's session, login check and templates.

What it shares with sakskydd: the server-side session (ServerSessionInterface on the same
database: the row is read and its last_seen written on every request), the login check
(Flask-Login's request loader from accounts.views: a user only after MFA, read fresh), CSRF's
token in the logout form, and the whole template stack: Jinja with the same settings, base.html
with its menu (whose `allowed()` and `chef_home_operator()` are the real ones, deciding with the
policy engine on the user's entities). What it leaves out is everything a page of the application
adds on top: route enforcement and loaders, hardening hooks, audit events, the page's own queries.

Its page renders a 100-row table (assets' plain columns, no decryption) from the same database, in
one query. Served like the application: gunicorn, sync workers, no access log.

    python -m bench.baseline.app --port 8001 --workers 2     (SAKSKYDD_* as for `sakskydd serve`)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flask import Flask, redirect, render_template, url_for
from jinja2 import ChoiceLoader, FileSystemLoader, select_autoescape

HERE = Path(__file__).resolve().parent

# The endpoints base.html links to; here they only need to exist for url_for (never served).
MENU_ENDPOINTS = {
    "auth.login": "/logga-in",
    "auth.logout": "/logga-ut",
    "units.index": "/enheter",
    "procurements.index": "/upphandlingar",
    "vetting.overview": "/sakerhetsprovning",
    "oversight.overview": "/oversikt/<operator_id>",
    "auditing.events": "/granskning",
    "admin.users": "/admin/anvandare",
    "admin.approvals": "/admin/godkannanden",
    "admin.operators": "/admin/verksamhetsutovare",
    "account.overview": "/konto",
}


def create_baseline() -> Flask:
    from flask_login import current_user
    from sqlalchemy import select

    from sakskydd import crypto
    from sakskydd.accounts.sessions import ServerSessionInterface
    from sakskydd.accounts.views import init_login
    from sakskydd.assets.models import ProtectedAsset
    from sakskydd.authz import enforcement
    from sakskydd.authz.engine import PolicyEngine
    from sakskydd.config import Settings
    from sakskydd.extensions import Database, csrf, db, login_manager
    from sakskydd.resources import resource_dir

    settings = Settings.from_env()
    app = Flask("sakskydd_baseline", static_folder=str(resource_dir("static")))
    app.config.update(
        SAKSKYDD_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_I18N_ENABLED=False,
        SESSION_COOKIE_NAME="__Host-sakskydd",
    )
    app.jinja_loader = ChoiceLoader(  # type: ignore[assignment]
        [FileSystemLoader(str(HERE / "templates")), FileSystemLoader(str(resource_dir("templates")))]
    )
    app.jinja_env.autoescape = select_autoescape(
        enabled_extensions=("html", "htm", "xml"), default_for_string=True, default=True
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.globals["has_endpoint"] = lambda name: name in app.view_functions

    database = Database(settings.database_url)
    app.extensions["sakskydd.db"] = database
    app.teardown_request(database.remove)
    app.teardown_appcontext(database.remove)
    app.session_interface = ServerSessionInterface(
        settings.session_idle_seconds, settings.session_absolute_seconds, settings.pending_login_seconds
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    init_login(app)
    app.extensions["sakskydd.policy"] = PolicyEngine.load(resource_dir("policies"))
    with app.app_context():
        crypto.init_app(app)  # an expired session is audited, which needs the key ring

    @app.context_processor
    def _menu() -> dict[str, Any]:
        return {"allowed": enforcement.is_allowed, "chef_home_operator": enforcement.chef_home_operator}

    def _never() -> Any:  # pragma: no cover - menu targets only
        return "", 404

    for endpoint, rule in MENU_ENDPOINTS.items():
        app.add_url_rule(rule, endpoint=endpoint, view_func=_never)

    @app.route("/", endpoint="main.home")
    def home() -> Any:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"), code=303)
        rows = db.execute(
            select(
                ProtectedAsset.name,
                ProtectedAsset.type,
                ProtectedAsset.damage_level,
                ProtectedAsset.status,
                ProtectedAsset.owner,
                ProtectedAsset.reference,
            )
            .order_by(ProtectedAsset.unit_id, ProtectedAsset.name)
            .limit(100)
        ).all()
        return render_template("baseline.html", rows=rows)

    return app


def main(argv: list[str] | None = None) -> int:
    from gunicorn.app.base import BaseApplication

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    class _Server(BaseApplication):  # type: ignore[misc]
        # The same settings as `sakskydd serve` (sakskydd/cli.py).
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("accesslog", None)
            self.cfg.set("limit_request_line", 4094)

        def load(self) -> Flask:
            return create_baseline()

    _Server().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
