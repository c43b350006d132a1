"""Route enforcement: every endpoint declares its action; undeclared ones are refused.

Order per request (DESIGN.md, request flow): the loader fetches the object scoped by
organisation (404 when absent or foreign), then the engine decides with entities built
fresh from the database. Every denial is an audit event, committed even though the
request fails.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user

from sakskydd import audit
from sakskydd.audit.tags import Event
from sakskydd.authz import entities as ent
from sakskydd.authz.engine import Decision, PolicyEngine
from sakskydd.authz.permissions import STEP_UP_ACTIONS, STEP_UP_MAX_AGE_SECONDS
from sakskydd.db import utcnow
from sakskydd.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

# The only endpoints reachable without a declared action. Each does its own state checks
# (a pending login, a valid activation token) and is rate-limited where it takes secrets.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "health.health_check",
        "auth.login",
        "auth.login_totp",
        "auth.login_recovery",
        "auth.enrol",
        "auth.activate",
        "auth.logout",
    }
)

ACTION_ATTR = "__sakskydd_action__"


def declared_action(view: Callable[..., Any]) -> str | None:
    return getattr(view, ACTION_ATTR, None)


def engine() -> PolicyEngine:
    return current_app.extensions["sakskydd.policy"]  # type: ignore[no-any-return]


def request_context() -> dict[str, Any]:
    """Cedar context from the server-side session: MFA done and age of the last authentication."""
    mfa_at = getattr(session, "mfa_at", None)
    authenticated_at = getattr(session, "authenticated_at", None)
    age = int((utcnow() - authenticated_at).total_seconds()) if authenticated_at else 10**9
    return {"mfa": mfa_at is not None, "auth_age_seconds": max(age, 0)}


def _user_entities(user: Any) -> list[dict[str, Any]]:
    """The current user's entities: read fresh from the database once per request, then reused
    by every decision of that request (the route's and the page's buttons)."""
    cached = g.get("_authz_user_entities")
    if cached is None or cached[0] != user.id:
        cached = (user.id, ent.user_entity(db, user))
        g._authz_user_entities = cached
    return list(cached[1])


def forget_user_entities() -> None:
    """After a change to the current user's roles within a request, decide on fresh entities."""
    g.pop("_authz_user_entities", None)


def _resource_entities(resource: Any) -> tuple[Any, list[dict[str, Any]]]:
    """A resource's reference and entities. A GET changes nothing, so they are read once per GET
    request and object, and the route's decision and the page's buttons decide on the same fresh
    rows; any other method may change the resource between decisions and reads them every time."""
    ident = getattr(resource, "id", None)
    if request.method not in ("GET", "HEAD") or ident is None:
        return ent.resource_entities(db, resource)  # type: ignore[no-any-return]
    cache = g.setdefault("_authz_resource_entities", {})
    key = (type(resource).__name__, ident)
    if key not in cache:
        cache[key] = ent.resource_entities(db, resource)
    resource_ref, entities = cache[key]
    return resource_ref, list(entities)


def _request_entities(resource: Any) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The current user, the resource's reference and the entities of a decision about it."""
    user = current_user._get_current_object()
    entities = _user_entities(user)
    if resource is None:
        resource_ref = ent.application_ref()
        entities.append(ent.application_entity())
    else:
        resource_ref, more = _resource_entities(resource)
        entities.extend(more)
    return user, resource_ref, entities


def decide(action: str, resource: Any = None) -> Decision:
    """Decide for the current user on a model object (or the application when None)."""
    user, resource_ref, entities = _request_entities(resource)
    return engine().decide(ent.user_ref(user), action, resource_ref, request_context(), entities)


def is_allowed(action: str, resource: Any = None) -> bool:
    """For templates and lists: may the current user do `action` (no audit, no abort)?"""
    if not current_user.is_authenticated:
        return False
    return decide(action, resource).allowed


def allowed_actions(resource: Any, actions: Any) -> set[str]:
    """Which of `actions` the current user may take on `resource` (for a page's buttons; no audit).

    The resource's entities are built once for all the actions. Display only: every route
    decides again through its own @authorize.
    """
    if not current_user.is_authenticated:
        return set()
    user, resource_ref, entities = _request_entities(resource)
    context = request_context()
    principal = ent.user_ref(user)
    return {a for a in actions if engine().decide(principal, a, resource_ref, context, entities).allowed}


def record_denial(action: str, decision: Decision | None, target: Any = None, reason: str = "policy") -> None:
    db.rollback()
    target_type = getattr(target, "__tablename__", None) if target is not None else None
    target_id = str(getattr(target, "id", "")) if target is not None else None
    audit.record(
        Event.AUTHZ_DENY,
        outcome="denied",
        target_type=target_type,
        target_id=target_id,
        unit_id=getattr(target, "unit_id", None) if target is not None else None,
        decision={
            "action": action,
            "policy_ids": list(decision.policy_ids) if decision else [],
            "bundle_hash": decision.bundle_hash if decision else engine().bundle_hash,
            "errors": len(decision.errors) if decision else 0,
        },
        detail={"reason": reason, "endpoint": request.endpoint or ""},
    )
    db.commit()


def require(action: str, resource: Any = None) -> None:
    """Abort with 403 (after auditing) unless the current user may do `action` on `resource`."""
    decision = decide(action, resource)
    if not decision.allowed:
        record_denial(action, decision, resource)
        abort(403)


def _step_up_redirect(action: str) -> Any:
    # A GET comes back with its query (an export keeps its filters); the path is always relative.
    target = (
        request.full_path.rstrip("?")
        if request.method == "GET"
        else request.form.get("next") or url_for("main.home")
    )
    flash("Bekräfta din identitet för att fortsätta.", "info")
    return redirect(url_for("account.step_up", next=target), code=303)


def authorize(action: str, load: Callable[..., Any] | None = None) -> Callable[[F], F]:
    """Declare the view's action; optionally load its object (404 when absent or out of scope).

    The loaded object is passed to the view as its first positional argument.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            target = None
            if load is not None:
                target = load(**kwargs)
                if target is None:
                    abort(404)
            if action in STEP_UP_ACTIONS:
                context = request_context()
                # The policy (00_baseline.cedar) holds the same limit; redirecting here gives the user
                # a step-up page instead of a bare 403 when the confirmation has gone stale.
                if context["auth_age_seconds"] > STEP_UP_MAX_AGE_SECONDS:
                    return _step_up_redirect(action)
            decision = decide(action, target)
            if not decision.allowed:
                record_denial(action, decision, target)
                abort(403)
            g.decision = decision
            g.decision_action = action
            if load is not None:
                return view(target, *args, **kwargs)
            return view(*args, **kwargs)

        setattr(wrapped, ACTION_ATTR, action)
        return wrapped  # type: ignore[return-value]

    return decorator


def enforce_declared_route() -> Any:
    """before_request: deny by default. Public endpoints pass; the rest need a user and an action."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None
    view = current_app.view_functions.get(endpoint)
    action = declared_action(view) if view is not None else None
    if action is None:
        if current_user.is_authenticated:
            record_denial("(undeclared)", None, reason="undeclared_route")
        abort(403)
    if not current_user.is_authenticated:
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), code=303)
        abort(401)
    return None


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        return None


def chef_home_operator() -> str | None:
    """For the menu: the operator id a chef's consolidated picture opens on, the one of their chef
    operators with no parent among them (the kommun rather than its bolag), or None. Read from
    the request's cached user entities: no query of its own."""
    if not current_user.is_authenticated:
        return None
    entities = _user_entities(current_user._get_current_object())
    me = next((e for e in entities if e["uid"]["type"] == ent.qualified("User")), None)
    if me is None:
        return None
    chef = {ref["__entity"]["id"] for ref in me["attrs"].get("chef_operators", [])}
    parents = {
        e["uid"]["id"]: {p["id"] for p in e["parents"]}
        for e in entities
        if e["uid"]["type"] == ent.qualified("Operator")
    }
    tops = sorted(op for op in chef if not parents.get(op, set()) & chef)
    return tops[0] if tops else None


def init_app(app: Flask) -> None:
    app.before_request(enforce_declared_route)

    @app.context_processor
    def _allowed() -> dict[str, Any]:
        return {"allowed": is_allowed, "chef_home_operator": chef_home_operator}
