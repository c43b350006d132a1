"""Hypothesis fuzzing of every route that accepts POST, as each role: no server error, and no
change at all when the input is refused.

The routes come from `app.url_map` (a new form is fuzzed without touching this file); their URL
arguments are real objects from the authorization matrix's world (`test_authz_matrix._world`),
one fresh world per blueprint so that a form that succeeded early (removing a measure, ending a
case) leaves the next blueprint's objects intact. Each role is signed in with a fresh step-up,
posts with a valid CSRF token, and — where a page offers the form — fills the form's real fields
(read from the pages with a GET first, hidden `version` included) with hostile values: NUL, RTL
marks, 100 000+ characters, numbers where dates, ids or choices are expected, invalid UTF-8,
missing, repeated and unknown fields, JSON and multipart bodies.

Each submission is judged by the response, the log and the database:

- no 5xx, and nothing logged at ERROR (the app logs every unhandled exception there);
- a refusal — a 4xx, or a 200 page that shows errors, or a 200 that audited no change — leaves
  every table exactly as it was and audits nothing but denials and reads (`authz.deny`, `*.read`,
  `*.read_personal`, `vetting.lookup`, `audit.searched`) and failed credential checks
  (`auth.*` with a non-success outcome);
- a change the app accepted (a 303, or a 200 that audited a change) must have audited it: a
  changed table with no change event is a failure too (DESIGN: every change is audited).

The fingerprint (tests/fuzz_support.py) is a count and hash of every table's rows except:
- `audit_event`, `audit_head`, `audit_checkpoint`: the trail itself, checked event by event;
- `audit_verification_run`: a verification started from the workspace runs on in a thread and
  updates its row while later requests are judged;
- `user_session`: every request touches it (last seen, flashes, CSRF secret) and now and then
  purges expired sessions;
- `known_login_source`: login bookkeeping, written only by a login that succeeded;
- `user_account.failed_logins`, `.last_failed_at`, `.locked_until`: the lockout counters, which a
  refused credential (step-up, second factor, login) is meant to move.
One route changes a table on purpose without an audit event (UNAUDITED_CHANGES, with the reason),
and the 20th refused credential in a row locks the account and leaves its holder a notice
(FAILURE_CONSEQUENCES, audited as auth.login.locked).
A failure is collected with the submission that caused it and reported at the end of the test.
The rate limiter keeps its counters in memory (not in the database); each request comes from
its own client address so the login limits do not turn the auth forms into a wall of 429s.

`SAKSKYDD_SOAK=1` runs the full form (many more examples, freshly random each run); the default
short form draws a few examples per route and role from a fixed seed, so it is the same in every
run and keeps `make test` fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from factories import Person, csrf_token, make_operator, make_unit, make_user, session_cookie
from flask import Flask, url_for
from flask.testing import FlaskClient
from fuzz_support import (
    FieldSpec,
    FormSpec,
    changed_tables,
    describe,
    encode_form,
    encode_multipart,
    fingerprint,
    fuzz_values,
    huge_values,
    mixed_text,
    post_forms,
    value_for,
)
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from itsdangerous import BadSignature, Signer
from sqlalchemy import func, or_, select, update
from test_authz_matrix import _notice, _url, _world
from werkzeug.routing import Rule

from sakskydd.accounts import services as account_services
from sakskydd.accounts.models import Role, User, UserSession
from sakskydd.accounts.sessions import COOKIE_NAME, token_hash
from sakskydd.assets.models import ProtectedAsset
from sakskydd.audit.models import AuditEvent
from sakskydd.auditing.verification import THREADS_EXTENSION as VERIFICATION_THREADS
from sakskydd.authz.permissions import STEP_UP_MAX_AGE_SECONDS
from sakskydd.deadlines import local_today
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator, OrgUnit
from sakskydd.procurements.models import Procurement

pytestmark = pytest.mark.db

SOAK = os.environ.get("SAKSKYDD_SOAK", "") == "1"
ROLES = [Role.SAMORDNARE, Role.ERSATTARE, Role.UPPHANDLARE, Role.CHEF, Role.REVISOR, Role.ADMIN]

# Examples per route: where the role reaches the form (its page or a page with the form answers
# 200), and where it does not (every submission is refused early: a few are enough).
EXAMPLES_REACHED = 60 if SOAK else 4
EXAMPLES_REFUSED = 8 if SOAK else 1

# The short form is deterministic: each route × role has its own fixed seed (see `fuzz`; a
# derandomized run would give every route the same choices, as they share one test function).
settings.register_profile(
    "sakskydd-fuzz-short",
    database=None,
    deadline=None,
    # The world is shared by the examples of a route, so a replay is not a replay: failures are
    # collected (not raised) and reported with the submission, which is what shrinking would give.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
settings.register_profile("sakskydd-fuzz-soak", parent=settings.get_profile("sakskydd-fuzz-short"))
PROFILE = settings.get_profile("sakskydd-fuzz-soak" if SOAK else "sakskydd-fuzz-short")

SKIP_TABLES = frozenset(
    {
        "audit_event",
        "audit_head",
        "audit_checkpoint",
        "audit_verification_run",
        "user_session",
        "known_login_source",
    }
)
SKIP_COLUMNS = frozenset(
    {
        "user_account.failed_logins",
        "user_account.last_failed_at",
        "user_account.locked_until",
    }
)
# Changes a route makes on purpose without an audit event, with the reason.
UNAUDITED_CHANGES = {
    # Starting a new TOTP enrolment draws a pending secret (the page shows it); it takes effect only
    # when a code from it is confirmed, which is audited (auth.mfa.enrolled).
    "account.change_mfa": {"user_account"},
}
# What a refused credential may change besides the lockout counters: the 20th failure in a row
# locks the account (audited as auth.login.locked) and leaves the holder a notice about it.
FAILURE_CONSEQUENCES = {"auth.login.locked": {"notice"}}
READ_EVENTS = frozenset({"authz.deny", "vetting.lookup", "audit.searched"})
TEXT_KINDS = frozenset({"text", "textarea", "email", "search", "date", "number", "password"})
ERROR_MARKERS = ('class="error-summary"', 'aria-invalid="true"')

# Names a form might be tricked with (mass assignment, the ids of the world's objects).
EXTRA_NAMES = (
    "next",
    "is_active",
    "id",
    "unit_id",
    "operator_id",
    "user_id",
    "status",
    "version",
    "created_by_id",
    "clearance",
    "role",
    "marking",
    "attested",
    "outcome",
    "csrf_token",
    "submit",
)
# A coverage heuristic only: routes that end or remove their object run last in their blueprint.
TERMINAL_WORDS = (
    "remove",
    "unlink",
    "end",
    "close",
    "archive",
    "approve",
    "adopt",
    "submit",
    "return",
    "review",
    "decide",
    "confirm",
    "disable",
    "revoke",
    "reject",
    "reset",
    "logout",
    "acknowledge",
)


def _refusal_event(event: str, outcome: str) -> bool:
    """Events a refused request may write: denials, reads and failed credential checks."""
    return (
        event in READ_EVENTS
        or event.endswith((".read", ".read_personal"))
        or (event.startswith("auth.") and outcome != "success")
    )


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, from any logger (the app's unhandled-error log included)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Submission:
    label: str
    pairs: list[tuple[str, str | bytes]] = field(default_factory=list)
    json_body: Any = None
    files: bool = False
    poison: bool = False
    nameless: bool = False


@dataclass
class Target:
    rule: Rule
    url: str
    form: FormSpec | None
    reached: bool


class Fuzzer:
    """One role's fuzzing: its world, its signed-in client, the forms its pages offer."""

    def __init__(self, app: Flask, role: Role | None, errors: ErrorLog) -> None:
        self.app = app
        self.role = role
        self.errors = errors
        self.engine = app.extensions["sakskydd.db"].engine
        self.failures: list[str] = []
        self.counts: dict[str, int] = {"routes": 0, "reached": 0, "examples": 0}
        self.statuses: dict[int, int] = {}
        self.address = 0
        self.client: FlaskClient = app.test_client()
        self.token = ""
        self.actor: Person | None = None
        self.values: dict[str, str] = {}
        self.known_ids: list[str] = []
        self.forms: dict[str, FormSpec] = {}
        self.form_pages: dict[str, str] = {}
        self.last_fingerprint: dict[str, Any] | None = None
        self.seen_seq: int | None = None
        self.login_users: dict[str, Person] = {}
        self.signed_in_at = 0.0

    # --- the world, the session, the forms --------------------------------------------------------

    def new_world(self, group: str) -> None:
        # The matrix's world names its operators (a unique column): the previous world's step aside.
        for name in ("Egen kommun", "Annan kommun"):
            db.execute(
                update(Operator).where(Operator.name == name).values(name=f"{name} {uuid.uuid4().hex[:8]}")
            )
        db.commit()
        world = _world(self.app)
        values = dict(world.targets[True])
        own_unit, own_operator = world.own_unit, world.own_operator
        self.known_ids = sorted({v for side in world.targets.values() for v in side.values() if len(v) == 36})
        if self.role is not None:
            scope = own_unit if self.role.scope == "unit" else own_operator
            self.actor = make_user(self.app, own_operator, roles=[(self.role, scope)], clearance=2)
            # As in the matrix: the own notice is addressed to the actor, the own procurement is theirs.
            asset = db.get(ProtectedAsset, uuid.UUID(values["asset_id"]))
            values["notice_id"] = _notice(asset, self.actor.id)
            procurement = db.get(Procurement, uuid.UUID(values["procurement_id"]))
            procurement.responsible_id = self.actor.id
            db.commit()
            spare = session_cookie(self.app.test_client(), self.app, self.actor)
            values["session_id"] = str(spare.id)
        if group == "auth":
            self.login_users = {
                "totp": make_user(self.app, own_operator),
                "enrol": make_user(self.app, own_operator, mfa=False),
            }
            newcomer = make_user(self.app, own_operator, mfa=False)
            values["token"] = account_services.issue_activation_token(newcomer.user, actor_id=None, hours=24)
            db.commit()
        values.setdefault("session_id", str(uuid.uuid4()))
        values.setdefault("token", "ingen-sadan-token")
        self.values = values
        db.close()
        self.client = self.app.test_client()
        self.sign_in()
        self.forms, self.form_pages = {}, {}
        self.last_fingerprint = None

    def sign_in(self) -> None:
        self.signed_in_at = time.monotonic()
        if self.actor is not None:
            session_cookie(self.client, self.app, self.actor)
            db.close()
            self.token = self.csrf_from("/")
        else:
            self.token = self.csrf_from("/logga-in")

    def csrf_from(self, path: str) -> str:
        html = self.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
            r'name="csrf_token" value="([^"]+)"', html
        )
        return match.group(1) if match else ""

    def signed_in(self) -> bool:
        if self.actor is None:
            return True
        cookie = self.client.get_cookie(COOKIE_NAME, domain="localhost")
        if cookie is None:
            return False
        signer = Signer(self.app.secret_key, salt="sakskydd-session", digest_method=hashlib.sha256)
        try:
            token = signer.unsign(cookie.value).decode("ascii")
        except BadSignature:
            return False
        with self.engine.connect() as connection:
            row = connection.execute(
                select(UserSession.id).where(
                    UserSession.token_hash == token_hash(token),
                    UserSession.user_id == self.actor.id,
                    UserSession.mfa_at.is_not(None),
                )
            ).first()
            connection.rollback()
        return row is not None

    def next_address(self) -> str:
        self.address += 1
        return f"10.{(self.address >> 16) & 255}.{(self.address >> 8) & 255}.{self.address & 255}"

    def get(self, path: str) -> Any:
        self.last_fingerprint = self.seen_seq = None  # a page may record a read: look afresh
        return self.client.get(path, environ_base={"REMOTE_ADDR": self.next_address()})

    def read_forms(self, path: str) -> int:
        """GET a page; remember every POST form on it (by the path it posts to)."""
        response = self.get(path)
        if response.status_code == 200 and response.mimetype == "text/html":
            found: dict[str, FormSpec] = {}
            for spec in post_forms(response.get_data(as_text=True), path.split("?")[0]):
                token = spec.fields.get("csrf_token")
                if token is not None and token.sent and token.sent[0]:
                    self.token = token.sent[0]
                if spec.action in found:
                    found[spec.action].merge(spec)  # the same action offered twice on the page
                else:
                    found[spec.action] = spec
            for action, spec in found.items():
                self.forms[action] = spec  # the newest read wins (a new version after a change)
                self.form_pages[action] = path
        return int(response.status_code)

    def url(self, rule: Rule) -> str:
        return _url(self.app, rule.endpoint, set(rule.arguments), self.values, self.values["session_id"])

    def catalogue(self, rules: list[Rule]) -> dict[str, int]:
        """Read the pages of the blueprint (and home): the forms they offer this role."""
        statuses: dict[str, int] = {}
        for path in ["/"] + [self.url(rule) for rule in rules if "GET" in (rule.methods or ())]:
            if path not in statuses:
                statuses[path] = self.read_forms(path)
        return statuses

    # --- one submission -------------------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.engine, skip_tables=SKIP_TABLES, skip_columns=SKIP_COLUMNS)

    def last_seq(self) -> int:
        with self.engine.connect() as connection:
            seq = connection.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)).scalar()
            connection.rollback()
        return int(seq or 0)

    def events_since(self, seq: int) -> list[tuple[str, str]]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(AuditEvent.seq, AuditEvent.event, AuditEvent.outcome)
                .where(AuditEvent.seq > seq)
                .order_by(AuditEvent.seq)
            ).all()
            connection.rollback()
        self.seen_seq = rows[-1].seq if rows else seq
        return [(row.event, row.outcome) for row in rows]

    def prepare(self, endpoint: str) -> None:
        """Anonymous second-factor and enrolment forms need a login half-way done."""
        if self.role is not None or endpoint not in ("auth.login_totp", "auth.login_recovery", "auth.enrol"):
            return
        person = self.login_users["enrol" if endpoint == "auth.enrol" else "totp"]
        with self.engine.begin() as connection:  # a fuzzed code counts towards the lockout
            connection.execute(
                update(User)
                .where(User.id == person.id)
                .values(failed_logins=0, last_failed_at=None, locked_until=None)
            )
        self.client = self.app.test_client()
        token = self.csrf_from("/logga-in")
        response = self.client.post(
            "/logga-in",
            data={"csrf_token": token, "username": person.user.username, "password": person.password},
            environ_base={"REMOTE_ADDR": self.next_address()},
        )
        assert response.status_code == 303, f"login for {endpoint}: {response.status_code}"
        stage_path = self.url(next(self.app.url_map.iter_rules(endpoint)))
        self.forms.pop(stage_path, None)
        self.read_forms(stage_path)
        stage_form = self.forms.get(stage_path)
        self.token = stage_form.fields["csrf_token"].sent[0] if stage_form else ""

    def send(self, target: Target, submission: Submission) -> None:
        # A verification started from the auditors' workspace records its result from a thread:
        # let it finish, so its event is not taken for this request's.
        threads = self.app.extensions.get(VERIFICATION_THREADS, [])
        if threads:
            for thread in threads:
                thread.join(timeout=120)
            threads.clear()  # all ended: each is accounted for once
            self.last_fingerprint = self.seen_seq = None
        self.prepare(target.rule.endpoint)
        if not self.signed_in():
            self.sign_in()
        before = self.last_fingerprint or self.fingerprint()
        seq = self.seen_seq if self.seen_seq is not None else self.last_seq()
        logged = len(self.errors.records)
        environ = {"REMOTE_ADDR": self.next_address()}
        if submission.json_body is not None:
            response = self.client.post(
                target.url,
                data=json.dumps(submission.json_body),
                content_type="application/json",
                headers={"X-CSRFToken": self.token},
                environ_base=environ,
            )
        elif submission.files:
            upload = b"%PDF-1.4 \x00\xff" if submission.poison else "%PDF-1.4 å\u202e".encode()
            boundary = "sakskydd-fuzz-7d1f"
            response = self.client.post(
                target.url,
                data=encode_multipart(
                    submission.pairs, boundary, nameless=submission.nameless, upload=upload
                ),
                content_type=f"multipart/form-data; boundary={boundary}",
                environ_base=environ,
            )
        else:
            response = self.client.post(
                target.url,
                data=encode_form(submission.pairs),
                content_type="application/x-www-form-urlencoded",
                environ_base=environ,
            )
        after = self.fingerprint()
        self.last_fingerprint = after
        events = self.events_since(seq)
        self.counts["examples"] += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        problems = self.judge(target, response, before, after, events, self.errors.records[logged:])
        if problems:
            who = self.role.value if self.role else "anonym"
            self.failures.append(
                f"{who} POST {target.rule.endpoint} {target.url} [{submission.label}] "
                f"-> {response.status_code}: {'; '.join(problems)}\n    data: {describe(submission.pairs)}"
                + (f" json={str(submission.json_body)[:200]}" if submission.json_body is not None else "")
            )
        if response.status_code == 303 or any(not _refusal_event(e, o) for e, o in events):
            self.after_success(target)

    def judge(
        self,
        target: Target,
        response: Any,
        before: dict[str, Any],
        after: dict[str, Any],
        events: list[tuple[str, str]],
        logged: list[logging.LogRecord],
    ) -> list[str]:
        problems = []
        status = response.status_code
        if status >= 500:
            problems.append("server error")
        for record in logged:
            lines = record.getMessage().splitlines()
            where = " | ".join(line.strip() for line in lines[-4:]) if len(lines) > 1 else ""
            problems.append(f"logged {record.levelname}: {lines[0][:200]} {where[:600]}")
        changes = [event for event, outcome in events if not _refusal_event(event, outcome)]
        shows_errors = status == 200 and any(
            marker in response.get_data(as_text=True) for marker in ERROR_MARKERS
        )
        refused = status >= 400 or shows_errors or (status == 200 and not changes)
        expected = set(UNAUDITED_CHANGES.get(target.rule.endpoint, ()))
        for event, _ in events:
            expected |= FAILURE_CONSEQUENCES.get(event, set())
        changed = [name for name in changed_tables(before, after) if name not in expected]
        if refused and changes:
            problems.append(f"refused, yet audited {changes}")
        if refused and changed:
            problems.append(f"refused, yet changed {changed}")
        if not refused and changed and not changes:
            problems.append(f"changed {changed} without auditing a change")
        return problems

    def keep_reach(self) -> None:
        """A form that succeeded may have cut the actor off the rest of the world (an upphandlare's
        procurement handed to someone else, the own operator or unit made inactive by the admin):
        restore that between judged requests, so the remaining examples still reach their forms."""
        if self.actor is None:
            return
        procurement_id = uuid.UUID(self.values["procurement_id"])
        with self.engine.begin() as connection:
            restored = connection.execute(
                update(Procurement)
                .where(
                    Procurement.id == procurement_id,
                    or_(Procurement.responsible_id.is_(None), Procurement.responsible_id != self.actor.id),
                )
                .values(responsible_id=self.actor.id)
            ).rowcount
            for model, key in ((Operator, "operator_id"), (OrgUnit, "unit_id")):
                restored += connection.execute(
                    update(model)
                    .where(model.id == uuid.UUID(self.values[key]), model.is_active.is_(False))
                    .values(is_active=True)
                ).rowcount
        if restored:
            self.last_fingerprint = None

    def after_success(self, target: Target) -> None:
        """A change went through: sign in again if it ended the session; read the form's page
        again when the form carries state (a new version to send)."""
        if not self.signed_in():
            self.sign_in()
        self.keep_reach()
        page = self.form_pages.get(target.url)
        form = self.forms.get(target.url)
        if (
            page is not None
            and form is not None
            and any(
                spec.kind == "hidden" and not name.endswith("csrf_token")
                for name, spec in form.fields.items()
            )
        ):
            self.read_forms(page)  # a new version to send

    # --- drawing submissions ------------------------------------------------------------------------

    def draw_submission(self, data: st.DataObject, target: Target) -> Submission:
        form = target.form
        modes = (
            ["form"] * 4 + ["one"] * 4 + ["random", "json", "multipart"]
            if form
            else ["random"] * 4 + ["json"]
        )
        mode = data.draw(st.sampled_from(modes), label="mode")
        # Now and then a value the input check refuses outright (a NUL, invalid UTF-8).
        poison = data.draw(st.sampled_from([False] * 6 + [True]), label="poison")
        if mode == "json":
            body = data.draw(
                st.recursive(
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), mixed_text(poison)),
                    lambda inner: (
                        st.lists(inner, max_size=3) | st.dictionaries(mixed_text(), inner, max_size=3)
                    ),
                    max_leaves=8,
                ),
                label="json",
            )
            return Submission("json", json_body=body)
        pairs: list[tuple[str, str | bytes]] = []
        csrf = data.draw(st.sampled_from(["valid"] * 12 + ["missing", "garbage", "twice"]), label="csrf")
        if csrf == "valid":
            pairs.append(("csrf_token", self.token))
        elif csrf == "garbage":
            pairs.append(("csrf_token", data.draw(st.one_of(mixed_text(), st.just(self.token[::-1])))))
        elif csrf == "twice":
            pairs += [("csrf_token", "x" + self.token), ("csrf_token", self.token)]
        if mode in ("form", "one", "multipart") and form is not None:
            names = [name for name in form.fields if not name.endswith("csrf_token")]
            # "one": a plausibly filled form with a single field spoilt (reaches the services);
            # otherwise every field is kept, spoilt, left out or repeated, one maybe made huge.
            spoilt = (
                data.draw(st.sampled_from(names) if names else st.none(), label="spoilt")
                if mode == "one"
                else None
            )
            huge = (
                None
                if mode == "one"
                else data.draw(st.sampled_from([None] * 10 + names) if names else st.none(), label="huge")
            )
            for name in names:
                spec = form.fields[name]
                if mode == "one":
                    how = "filled"
                    if name == spoilt:
                        how = data.draw(
                            st.sampled_from(["fuzz"] * 3 + ["omit", "repeat", "huge"]), label=name
                        )
                else:
                    weights = ["page"] * 3 if spec.kind in ("hidden", "submit", "button") else ["page"]
                    how = data.draw(st.sampled_from([*weights, "fuzz", "fuzz", "omit", "repeat"]), label=name)
                    how = "huge" if name == huge else how
                if how == "huge":
                    pairs.append((name, data.draw(huge_values(poison), label="huge value")))
                elif how == "page":
                    pairs += [(name, value) for value in self.sent_now(target, name)]
                elif how == "filled":
                    pairs += [(name, value) for value in self.filled(target, spec)]
                elif how == "fuzz":
                    pairs.append((name, data.draw(value_for(spec, self.known_ids, poison=poison))))
                elif how == "repeat":
                    values = data.draw(
                        st.lists(value_for(spec, self.known_ids, poison=poison), min_size=2, max_size=3)
                    )
                    pairs += [(name, value) for value in values]
        extra = data.draw(
            st.lists(
                st.tuples(
                    st.one_of(st.sampled_from(EXTRA_NAMES), mixed_text(poison)),
                    fuzz_values(self.known_ids, poison),
                ),
                max_size={"random": 4, "one": 1}.get(mode, 2),
            ),
            label="extra",
        )
        pairs += extra
        nameless = mode == "multipart" and data.draw(st.booleans(), label="nameless part")
        return Submission(mode, pairs, files=mode == "multipart", poison=poison, nameless=nameless)

    def sent_now(self, target: Target, name: str) -> list[str]:
        """What the page sends for a field now (a new version after a change). The drawing itself
        uses the form as first read, so that Hypothesis sees the same strategy in every example."""
        current = self.forms.get(target.url) or target.form
        spec = current.fields.get(name) if current is not None else None
        return spec.sent if spec is not None else []

    def filled(self, target: Target, spec: FieldSpec) -> list[str]:
        """What a careful user would send: the page's values, empty text and dates filled in, a
        real option chosen, free text attested."""
        sent = self.sent_now(target, spec.name)
        offered = [value for value in spec.values if value]
        if spec.kind == "checkbox":
            return offered[:1] if spec.name == "attested" else sent
        if spec.kind in ("select", "radio"):
            return [value for value in sent if value] or offered[:1]
        if any(value.strip() for value in sent) or spec.kind not in TEXT_KINDS:
            return sent
        if spec.kind == "date" or spec.name.endswith("_on"):
            return [local_today().isoformat()]
        if spec.kind == "number":
            return ["1"]
        return ["fuzz@example.se" if spec.kind == "email" else f"Fuzz {spec.name}"]

    # --- one route ------------------------------------------------------------------------------------

    def fuzz(self, rule: Rule, page_statuses: dict[str, int]) -> None:
        url = self.url(rule)
        if time.monotonic() - self.signed_in_at > STEP_UP_MAX_AGE_SECONDS / 3:
            self.sign_in()  # the step-up stays fresh however long the soak runs
        self.keep_reach()
        self.prepare(rule.endpoint)  # a half-done login shows the second-factor forms
        form = self.forms.get(url)
        reached = form is not None or page_statuses.get(url) == 200
        target = Target(rule, url, form, reached)
        self.counts["routes"] += 1
        self.counts["reached"] += int(reached)
        fuzzer = self

        @settings(PROFILE, max_examples=EXAMPLES_REACHED if reached else EXAMPLES_REFUSED)
        @seed(None if SOAK else zlib.crc32(f"{self.role}:{rule.rule}".encode()))
        @given(data=st.data())
        def examples(data: st.DataObject) -> None:
            fuzzer.send(target, fuzzer.draw_submission(data, target))

        examples()
        # Last, the form as the page fills it (a user pressing the button without changing anything).
        if reached and target.form is not None:
            target.form = self.forms.get(url, target.form)
            pairs = [("csrf_token", self.token)] + [
                (name, value)
                for name, spec in target.form.fields.items()
                if not name.endswith("csrf_token")
                for value in spec.sent
            ]
            self.send(target, Submission("page values", pairs))


def _post_rules(app: Flask) -> dict[str, list[Rule]]:
    """Every rule that accepts POST, by blueprint, terminal ones last (see TERMINAL_WORDS)."""
    groups: dict[str, list[Rule]] = {}
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or ()) and rule.endpoint != "static":
            groups.setdefault(rule.endpoint.split(".")[0], []).append(rule)

    def order(rule: Rule) -> tuple[bool, str, str]:
        view = rule.endpoint.split(".", 1)[1]
        return (any(word in view for word in TERMINAL_WORDS), rule.endpoint, rule.rule)

    return {name: sorted(rules, key=order) for name, rules in sorted(groups.items())}


def _get_rules(app: Flask, group: str) -> list[Rule]:
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith(f"{group}.") and "GET" in (rule.methods or ())
        ),
        key=lambda rule: (rule.endpoint, rule.rule),
    )


def _run(app: Flask, role: Role | None) -> Fuzzer:
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        fuzzer = Fuzzer(app, role, errors)
        for group, rules in _post_rules(app).items():
            fuzzer.new_world(group)
            statuses = fuzzer.catalogue(_get_rules(app, group))
            for rule in rules:
                fuzzer.fuzz(rule, statuses)
    finally:
        root.removeHandler(errors)
        # A verification the last submissions started runs on in a thread: end it with the test,
        # not during the next one (it would write to that test's database and change its threads).
        for thread in app.extensions.get(VERIFICATION_THREADS, []):
            thread.join(timeout=120)
    return fuzzer


def _report(fuzzer: Fuzzer) -> str:
    return (
        f"{fuzzer.counts['routes']} POST routes ({fuzzer.counts['reached']} reached), "
        f"{fuzzer.counts['examples']} submissions, statuses {dict(sorted(fuzzer.statuses.items()))}"
    )


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_every_form_route_withstands_fuzzing_as(app: Flask, role: Role) -> None:
    fuzzer = _run(app, role)
    print(_report(fuzzer))  # noqa: T201 - shown with -s / -rA
    assert fuzzer.counts["reached"] > 0, "the role reached no form: the fuzzing exercised nothing"
    assert not fuzzer.failures, f"{len(fuzzer.failures)} failures:\n" + "\n".join(fuzzer.failures[:40])


def test_every_form_route_withstands_fuzzing_anonymously(app: Flask) -> None:
    fuzzer = _run(app, None)
    print(_report(fuzzer))  # noqa: T201
    assert not fuzzer.failures, f"{len(fuzzer.failures)} failures:\n" + "\n".join(fuzzer.failures[:40])


# --- what the fuzzing found, pinned (and the oracle itself) -----------------------------------------


def _coordinator_client(app: Flask) -> tuple[Any, FlaskClient]:
    operator = make_operator()
    unit = make_unit(operator)
    person = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    client = app.test_client()
    session_cookie(client, app, person)
    db.close()
    return unit, client


def _asset_count(app: Flask) -> int:
    with app.extensions["sakskydd.db"].engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(ProtectedAsset)).scalar()
        connection.rollback()
    return int(count or 0)


def test_a_json_body_is_refused_before_a_form_reads_it(app: Flask) -> None:
    # Flask-WTF reads a JSON body as form data: a JSON list or number was a server error.
    unit, client = _coordinator_client(app)
    with app.test_request_context():
        path = url_for("assets.create", unit_id=unit.id)
    token = csrf_token(client, path)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        for body in ([1.5], 7, "namn", None, {"name": ["a", "b"], "type": 3}):
            response = client.post(
                path, data=json.dumps(body), content_type="application/json", headers={"X-CSRFToken": token}
            )
            assert response.status_code == 400, body
    finally:
        logging.getLogger().removeHandler(errors)
    assert not errors.records
    assert _asset_count(app) == 0


def test_a_multipart_part_without_a_name_is_refused(app: Flask) -> None:
    # Werkzeug gives a nameless part the key None; Flask-WTF's CSRF check then failed on it with a
    # server error, for anyone (the login form included).
    unit, client = _coordinator_client(app)
    with app.test_request_context():
        paths = [(client, url_for("assets.create", unit_id=unit.id)), (app.test_client(), "/logga-in")]
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        for who, path in paths:
            token = csrf_token(who, path)
            pairs: list[tuple[str, str | bytes]] = [("csrf_token", token), ("name", "Server")]
            for nameless, expected in ((True, 400), (False, 200)):
                body = encode_multipart(pairs, "grans-1", nameless=nameless, upload=b"x")
                response = who.post(path, data=body, content_type="multipart/form-data; boundary=grans-1")
                assert response.status_code == expected, (path, nameless)
    finally:
        logging.getLogger().removeHandler(errors)
    assert not errors.records
    assert _asset_count(app) == 0


@pytest.mark.parametrize("marking", ["99", "-1", str(10**30)])
def test_an_unknown_marking_is_a_form_error_not_a_server_error(app: Flask, marking: str) -> None:
    # The ceiling explanation looked the marking up among the levels: an unknown one was a KeyError.
    unit, client = _coordinator_client(app)
    with app.test_request_context():
        path = url_for("assets.create", unit_id=unit.id)
    (form,) = [
        spec for spec in post_forms(client.get(path).get_data(as_text=True), path) if spec.action == path
    ]
    data = {name: spec.sent[0] for name, spec in form.fields.items() if spec.sent}
    data.update(name="Fuzzad server", owner="Ägare", marking=marking)
    response = client.post(path, data=data)
    assert response.status_code == 200
    assert 'id="marking-error"' in response.get_data(as_text=True)
    assert _asset_count(app) == 0
    # A real level above the ceiling still gets its explanation.
    data["marking"] = "4"
    response = client.post(path, data=data)
    assert response.status_code == 200
    assert "får inte sparas här" in response.get_data(as_text=True)
    assert _asset_count(app) == 0


def test_the_fingerprint_sees_a_changed_row_but_not_a_skipped_column(app: Flask) -> None:
    engine = app.extensions["sakskydd.db"].engine
    operator = make_operator()
    person = make_user(app, operator)
    db.close()
    before = fingerprint(engine, skip_tables=SKIP_TABLES, skip_columns=SKIP_COLUMNS)
    assert before == fingerprint(engine, skip_tables=SKIP_TABLES, skip_columns=SKIP_COLUMNS)
    with engine.begin() as connection:
        connection.execute(update(User).where(User.id == person.id).values(failed_logins=3))
    assert fingerprint(engine, skip_tables=SKIP_TABLES, skip_columns=SKIP_COLUMNS) == before
    with engine.begin() as connection:
        connection.execute(update(User).where(User.id == person.id).values(display_name="Ändrad"))
    after = fingerprint(engine, skip_tables=SKIP_TABLES, skip_columns=SKIP_COLUMNS)
    assert changed_tables(before, after) == ["user_account"]
