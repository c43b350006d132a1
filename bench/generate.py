# ruff: noqa: S311, S608 - synthetic data from a seeded PRNG; table names come from the models
"""Synthetic data at city or national scale, with real encryption and a real audit chain.

    python -m bench.generate --out DIR [--scale city|national] [--factor F]
                             [--database-url URL] [--encrypted-fields N] [--seed S]

City scale (factor 1): 60 units under the city and 15 bolag, 10 years of analyses with their
plans, 100 000 assets with holders and notices, 5 000 procurements with their duties, 20 000
vetting cases, 2 million audit events. National scale: one operator with 2 000 units, 5 million
assets, 20 million audit events (PostgreSQL only). --factor scales the row counts (not the
units or the years); `make bench-quick` uses a small fraction.

How the rows are made (bench/README.md, "How the data is made"):
* The instance is prepared by the application itself (`prepare_instance`: migrations, key file,
  signing key, first keys), so the schema is the migrated one and the keys are real.
* Rows are written in bulk (executemany of the ORM's insert) with the values the services would
  give them: statuses, duties and checklists from the domain rules (procurements.rules.derive /
  duties_for / due_on, vetting.rules.steps_for), history rows, and every encrypted field sealed
  with the real `seal()` under the real key ring, bound to its row and unit; personnummer get the
  real blind index.
* Every change a service would audit gets its audit event, plus the reads, logins and searches
  of ten years of use, appended with the real chain code (canonical_json, leaf/entry hash, MAC)
  in batches, each event moving the head by one as the append-only triggers require; events
  are appended in time order. At the end `make_checkpoint` verifies the whole chain and signs a
  checkpoint, so a broken chain fails the generation.
* A few objects of the benchmark's own unit are made through the services themselves
  (create_asset + update_asset with holders and notices, create_procurement + triage + confirm,
  open_case), as a check that the services work on the generated data.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
import random
import secrets
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import pyotp

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import instance_env, log, settings_from

# Bump when the generated rows change (bench/run.py keys its cached data sets on it, with the
# migrations and the sizes): a changed comment here does not make the data again.
DATA_VERSION = 2

# --- sizes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    name: str
    units: int  # units under the main operator (the chef's picture covers these)
    bolag: int  # municipal companies, one unit each, owned by the main operator
    years: int
    assets: int
    procurements: int
    vetting_cases: int
    audit_events: int
    holders_per_asset: float
    positions_per_unit: int


SCALES = {
    "city": Scale("city", 60, 15, 10, 100_000, 5_000, 20_000, 2_000_000, 1.5, 20),
    "national": Scale("national", 2_000, 0, 10, 5_000_000, 130_000, 500_000, 20_000_000, 1.2, 20),
}


@dataclass
class Counts:
    operators: int = 0
    units: int = 0
    users: int = 0
    analyses: int = 0
    measures: int = 0
    assets: int = 0
    holders: int = 0
    notices: int = 0
    procurements: int = 0
    duties: int = 0
    positions: int = 0
    vetting_cases: int = 0
    vetting_steps: int = 0
    vetting_notes: int = 0
    encrypted_fields: int = 0
    audit_events: int = 0
    through_services: dict[str, int] = field(default_factory=dict)


# --- bulk writing -----------------------------------------------------------------------------------


class BulkWriter:
    """Rows as the ORM would write them, without its per-statement work.

    Each value goes through its column type's own bind processor (SQLAlchemy's, for the
    dialect in use: UUIDs, UTC datetimes, enums by name, JSON, sealed bytes), so the stored
    values are exactly those an ORM insert stores; the rows are then sent with the driver's
    executemany (SQLite) or COPY (PostgreSQL).
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect
        self.plans: dict[Any, tuple[str, list[str], list[Any]]] = {}

    def _plan(self, model: Any) -> tuple[str, list[str], list[Any]]:
        plan = self.plans.get(model)
        if plan is None:
            table = model.__table__
            keys, names, processors = [], [], []
            for prop in model.__mapper__.column_attrs:
                column = prop.columns[0]
                if column.table is not table:
                    continue
                keys.append(prop.key)
                names.append(column.name)
                processors.append(column.type._cached_bind_processor(self.dialect))
            plan = (table.name, names, list(zip(keys, processors, strict=True)))
            self.plans[model] = plan
        return plan

    def insert(self, model: Any, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        table, names, columns = self._plan(model)
        missing = [key for key, _ in columns if key not in rows[0]]
        if missing:
            raise KeyError(f"{table}: no value for {missing}")
        values = [
            tuple(
                row[key] if processor is None or row[key] is None else processor(row[key])
                for key, processor in columns
            )
            for row in rows
        ]
        quoted = ", ".join(f'"{name}"' for name in names)
        connection = self.session.connection()
        if self.dialect.name == "postgresql":
            raw = connection.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                for value in values:
                    copy.write_row(value)
        else:
            marks = ", ".join("?" for _ in names)
            connection.exec_driver_sql(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', values)


# --- the audit chain, in batches ------------------------------------------------------------------


class ChainWriter:
    """Appends events as `audit.record` would, many per statement.

    The payload is the same canonical JSON `record` builds (seq, time, event, outcome, actor,
    source, target, decision, changed, reason, detail), hashed and MACed with the same chain
    functions; audit_head moves forward by one per event (its trigger allows nothing else).
    """

    def __init__(self, session: Any, keyring: Any) -> None:
        from sakskydd.audit import lock_head

        self.session = session
        self.keyring = keyring
        self.seq, self.head = lock_head(session)
        self.appended = 0
        self.writer = BulkWriter(session)

    def append(self, events: Sequence[tuple[Any, ...]]) -> None:
        """events: (time, event, outcome, actor, source, target, decision, changed, detail)."""
        from sqlalchemy import bindparam, update

        from sakskydd.audit.chain import canonical_json, entry_hash, entry_mac, format_time, leaf_hash
        from sakskydd.audit.models import AuditEvent, AuditHead

        if not events:
            return
        rows = []
        heads = []
        mac_key = self.keyring.audit_mac_key
        seq, head = self.seq, self.head
        for when, event, outcome, actor, source, target, decision, changed, detail in events:
            seq += 1
            payload = canonical_json(
                {
                    "seq": seq,
                    "time": format_time(when),
                    "event": event,
                    "outcome": outcome,
                    "actor": actor,
                    "source": source,
                    "target": target,
                    "decision": decision,
                    "changed": sorted(set(changed)),
                    "reason": None,
                    "detail": detail,
                }
            )
            head = entry_hash(head, leaf_hash(payload))
            rows.append(
                {
                    "seq": seq,
                    "occurred_at": when,
                    "event": event,
                    "outcome": outcome,
                    "actor_id": uuid.UUID(actor["user"]) if actor and actor.get("user") else None,
                    "target_type": target["type"] if target else None,
                    "target_id": target["id"] if target else None,
                    "unit_id": uuid.UUID(target["unit"]) if target and target.get("unit") else None,
                    "payload": payload,
                    "entry_hash": head,
                    "mac": entry_mac(mac_key, head),
                }
            )
            heads.append({"b_prev": seq - 1, "b_seq": seq, "b_hash": head})
        self.writer.insert(AuditEvent, rows)
        connection = self.session.connection()
        table = AuditHead.__table__
        if self.writer.dialect.name == "postgresql":
            # The forward-only trigger allows one step per UPDATE; for a batch the head is set once
            # with the trigger off inside this transaction (the table's owner may), then on again.
            connection.exec_driver_sql("ALTER TABLE audit_head DISABLE TRIGGER audit_head_forward_only")
            connection.execute(
                update(table).where(table.c.id == 1, table.c.seq == self.seq).values(seq=seq, entry_hash=head)
            )
            connection.exec_driver_sql("ALTER TABLE audit_head ENABLE TRIGGER audit_head_forward_only")
        else:
            # SQLite: every event moves the head by one, as the trigger requires (executemany in C).
            connection.execute(
                update(table)
                .where(table.c.id == 1, table.c.seq == bindparam("b_prev"))
                .values(seq=bindparam("b_seq"), entry_hash=bindparam("b_hash")),
                heads,
            )
        self.seq, self.head = seq, head
        self.appended += len(events)


# --- the generator ------------------------------------------------------------------------------

ASSET_NAMES = [
    "Ärendehanteringssystem",
    "Styrsystem för pumpstation",
    "Passersystem",
    "Serverhall",
    "Lönesystem",
    "Reservkraftanläggning",
    "Rutin för nyckelhantering",
    "Kommunikationsnod",
    "Ledningscentral",
    "Vattenverk",
    "Arkivmagasin",
    "Befattning med systemåtkomst",
    "Kartunderlag för ledningsnät",
    "Krisledningsplan",
    "Fjärrvärmestyrning",
    "Trafikövervakning",
]
OWNERS = ["Förvaltningschef", "IT-chef", "Driftchef", "Säkerhetschef", "Fastighetschef", "HR-chef"]
MEASURE_TITLES = [
    ("informationssakerhet", "Behörighetsöversyn i verksamhetssystemen"),
    ("informationssakerhet", "Loggning och logganalys"),
    ("fysisk_sakerhet", "Tillträdesbegränsning till serverhallen"),
    ("fysisk_sakerhet", "Larm och kameraövervakning"),
    ("personalsakerhet", "Säkerhetsskyddsutbildning för chefer"),
    ("personalsakerhet", "Översyn av placeringar i säkerhetsklass"),
]
POSITION_TITLES = [
    "Drifttekniker",
    "Systemförvaltare",
    "Vaktmästare",
    "IT-säkerhetsspecialist",
    "Enhetschef",
    "Nätverkstekniker",
    "Arkivarie",
    "Säkerhetsskyddssamordnare",
]
SERVICES = ["drifttjänster", "bevakning", "städtjänster", "IT-stöd", "konsulttjänster", "transporter"]
# procurements.services.DEFAULT_FOLLOW_UP_ITEMS (read when the generator starts).
FOLLOW_UP_ITEMS: tuple[str, ...] = ()
FIRST_NAMES = ["Alva", "Bo", "Cecilia", "David", "Eva", "Filip", "Greta", "Hugo", "Ida", "Johan", "Karin"]
LAST_NAMES = ["Exempeldotter", "Provsson", "Testberg", "Fiktivsson", "Arkivsson", "Demoström", "Påhittad"]
FILLER_EVENTS = [  # (event, weight): ten years of use is mostly sign-ins and reads
    ("auth.login.success", 10),
    ("auth.mfa.success", 10),
    ("session.ended", 6),
    ("session.expired", 3),
    ("asset.read", 14),
    ("analysis.read", 8),
    ("procurement.read", 8),
    ("vetting.read_personal", 10),
    ("unit.read", 6),
    ("oversight.read", 2),
    ("audit.searched", 2),
    ("authz.deny", 1),
]


def _uid() -> uuid.UUID:
    return uuid.uuid4()


class Generator:
    def __init__(self, app: Any, scale: Scale, factor: float, encrypted_target: int, seed: int) -> None:
        from sakskydd.crypto.fields import current_keyring
        from sakskydd.deadlines import local_today
        from sakskydd.extensions import db

        self.app = app
        self.db = db
        self.scale = scale
        self.factor = factor
        self.encrypted_target = encrypted_target
        self.rng = random.Random(seed)
        self.keyring = current_keyring()
        self.settings = app.config["SAKSKYDD_SETTINGS"]
        self.bundle_hash = app.extensions["sakskydd.policy"].bundle_hash
        self.today = local_today()
        self.now = dt.datetime.now(dt.UTC)
        self.first_year = self.today.year - scale.years + 1
        self.counts = Counts()
        self.pending: list[tuple[Any, ...]] = []  # events later than the slice being written
        self.chain: ChainWriter | None = None
        self.dialect = db.get_bind().dialect.name
        self.manifest: dict[str, Any] = {}
        global FOLLOW_UP_ITEMS
        from sakskydd.procurements.services import DEFAULT_FOLLOW_UP_ITEMS

        FOLLOW_UP_ITEMS = tuple(DEFAULT_FOLLOW_UP_ITEMS)

    # -- helpers --

    def n(self, total: int) -> int:
        return max(1, round(total * self.factor))

    def seal(self, text: str, table: str, column: str, row_id: uuid.UUID, unit_id: uuid.UUID | None) -> Any:
        from sakskydd.crypto.fields import seal

        self.counts.encrypted_fields += 1
        return seal(
            text.encode("utf-8"),
            table=table,
            column=column,
            row_id=row_id,
            unit_id=unit_id,
            keyring=self.keyring,
        )

    def insert(self, model: Any, rows: list[dict[str, Any]], chunk: int = 20_000) -> None:
        assert self.chain is not None
        for start in range(0, len(rows), chunk):
            self.chain.writer.insert(model, rows[start : start + chunk])

    def at(self, day: dt.date, hour: int | None = None) -> dt.datetime:
        """A moment on `day` in office hours (UTC), never after now."""
        hour = self.rng.randint(7, 16) if hour is None else hour
        moment = dt.datetime(
            day.year,
            day.month,
            day.day,
            hour,
            self.rng.randint(0, 59),
            self.rng.randint(0, 59),
            self.rng.randint(0, 999_999),
            tzinfo=dt.UTC,
        )
        return min(moment, self.now - dt.timedelta(seconds=self.rng.randint(1, 3600)))

    def actor(self, user_id: uuid.UUID) -> dict[str, Any]:
        info = self.actors[user_id]
        return {
            "user": info["user"],
            "roles": info["roles"],
            "clearance": info["clearance"],
            "session": secrets.token_hex(8),
            "mfa_age": self.rng.randint(5, 30_000),
        }

    def source(self) -> dict[str, Any]:
        return {
            "ip": f"10.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}",
            "request_id": secrets.token_hex(8),
        }

    def decision(self, action: str) -> dict[str, Any]:
        return {
            "action": action,
            "policy_ids": self.policy_ids.get(action, ["policy0"]),
            "bundle_hash": self.bundle_hash,
        }

    def event(
        self,
        when: dt.datetime,
        event: str,
        actor: uuid.UUID | None,
        target: tuple[str, Any, Any, int | None] | None = None,
        *,
        action: str | None = None,
        changed: Iterable[str] = (),
        detail: dict[str, Any] | None = None,
        outcome: str = "success",
    ) -> tuple[Any, ...]:
        target_info = None
        if target is not None:
            kind, ident, unit, classification = target
            target_info = {"type": kind, "id": str(ident), "unit": str(unit) if unit else None}
            if classification is not None:
                target_info["classification"] = classification
        return (
            when,
            event,
            outcome,
            self.actor(actor) if actor else None,
            self.source() if actor else {"system": "cli"},
            target_info,
            self.decision(action) if action else None,
            list(changed),
            detail or {},
        )

    # -- the run --

    def run(self) -> Counts:
        from sakskydd.audit.checkpoints import load_signing_key, make_checkpoint

        started = time.monotonic()
        self._policy_ids()
        self.chain = ChainWriter(self.db, self.keyring)
        setup_events = self.organisation()
        self.flush_events(setup_events, until=None)
        self.db.commit()
        log(
            f"organisation: {self.counts.units} units, {self.counts.users} users "
            f"({time.monotonic() - started:.0f} s)"
        )
        months = self.scale.years * 12 - (12 - self.today.month)
        self.months = months
        plan = {
            "assets": self.spread(self.n(self.scale.assets), months),
            "procurements": self.spread(self.n(self.scale.procurements), months),
            "vetting": self.spread(self.n(self.scale.vetting_cases), months),
        }
        domain_estimate = (
            self.n(self.scale.assets) * 1.4
            + self.n(self.scale.procurements) * 5
            + self.n(self.scale.vetting_cases) * 8
            + self.counts.units * self.scale.years * 4
        )
        filler_total = max(0, self.n(self.scale.audit_events) - int(domain_estimate) - self.chain.appended)
        plan["filler"] = self.spread(filler_total, months)
        last_report = time.monotonic()
        for month in range(months):
            first = dt.date(self.first_year + month // 12, month % 12 + 1, 1)
            following = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
            last = min(following - dt.timedelta(days=1), self.today)
            events: list[tuple[Any, ...]] = []
            events += self.assets(plan["assets"][month], first, last)
            events += self.procurements(plan["procurements"][month], first, last)
            events += self.vetting(plan["vetting"][month], first, last)
            if first.month == 10:
                events += self.analyses(first.year)
            events += self.filler(plan["filler"][month], first, last)
            self.flush_events(events, until=self.at(following, 0) if following <= self.today else None)
            self.db.commit()
            if time.monotonic() - last_report > 20 or month == months - 1:
                last_report = time.monotonic()
                log(
                    f"{first:%Y-%m}: {self.counts.assets} assets, {self.counts.procurements} procurements, "
                    f"{self.counts.vetting_cases} vetting cases, {self.chain.appended} audit events "
                    f"({time.monotonic() - started:.0f} s)"
                )
        self.flush_events([], until=None)
        self.pad_encrypted()
        self.db.commit()
        self.through_services()
        self.db.commit()
        self.counts.audit_events = self.chain.appended
        from sakskydd.assets.counts import mismatches

        drift = mismatches(self.db)  # the triggers kept them through the bulk load
        if drift:
            raise SystemExit(f"asset_count differs from the register: {list(drift.items())[:5]}")
        log("signing a checkpoint (verifies the whole chain)")
        checkpoint_started = time.monotonic()
        signing_key = load_signing_key(self.settings.signing_key_file)
        checkpoint = make_checkpoint(self.db, signing_key, keyring=self.keyring)
        self.db.commit()
        self.counts.audit_events = checkpoint.size  # the services' events and the key set-up's included
        self.manifest["checkpoint"] = {
            "size": checkpoint.size,
            "seconds": round(time.monotonic() - checkpoint_started, 1),
        }
        log(f"generated in {time.monotonic() - started:.0f} s: {asdict(self.counts)}")
        return self.counts

    def spread(self, total: int, months: int) -> list[int]:
        """`total` over the months, growing a little over the years (more use lately)."""
        weights = [1.0 + 0.6 * m / max(months - 1, 1) for m in range(months)]
        scale = total / sum(weights)
        result = [int(w * scale) for w in weights]
        for m in range(total - sum(result)):
            result[-1 - (m % months)] += 1
        return result

    def flush_events(self, events: list[tuple[Any, ...]], until: dt.datetime | None) -> None:
        """Append the events up to `until` (all when None) in time order; keep later ones."""
        assert self.chain is not None
        events = self.pending + events
        if until is None:
            ready, self.pending = events, []
        else:
            ready = [e for e in events if e[0] < until]
            self.pending = [e for e in events if e[0] >= until]
        ready.sort(key=lambda e: e[0])
        for start in range(0, len(ready), 20_000):
            self.chain.append(ready[start : start + 20_000])

    def _policy_ids(self) -> None:
        """Realistic decision payloads: ask the engine which policies permit a few actions."""
        self.policy_ids = {}
        for path in sorted(Path(self.app.root_path).parent.joinpath("policies").glob("*.cedar")):
            text = path.read_text("utf-8")
            ids = [line.split('"')[1] for line in text.splitlines() if line.strip().startswith("@id(")]
            for ident in ids:
                self.policy_ids.setdefault("_all", []).append(ident)
        all_ids = self.policy_ids.get("_all") or ["policy0"]
        for action in (
            "asset.read",
            "asset.create",
            "analysis.read",
            "procurement.read",
            "vetting.read_personal",
            "unit.read",
            "oversight.view",
            "audit.search",
            "analysis.create",
            "procurement.create",
            "vetting.open",
            "home.view",
        ):
            self.policy_ids[action] = sorted(self.rng.sample(all_ids, min(2, len(all_ids))))

    # -- organisation --

    def organisation(self) -> list[tuple[Any, ...]]:
        from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
        from sakskydd.organisations.models import (
            Applicability,
            ApplicabilityAssessment,
            Appointment,
            AppointmentRole,
            Operator,
            OperatorKind,
            OrgUnit,
            RevisionTrigger,
            RevisionTriggerKind,
            UnitKind,
        )

        passwords = self.app.extensions["sakskydd.passwords"]
        start = dt.date(self.first_year, 1, 1)
        created = self.at(start, 8)
        events: list[tuple[Any, ...]] = []
        scale = self.scale
        main_name = "Bänkstads kommun" if scale.name == "city" else "Riksbänkens förbund"
        main = {
            "id": _uid(),
            "name": main_name,
            "kind": OperatorKind.KOMMUN,
            "org_number": "212000-0000",
            "parent_id": None,
            "is_active": True,
            "version": 1,
            "created_at": created,
        }
        operators = [main]
        for index in range(scale.bolag):
            operators.append(
                {
                    "id": _uid(),
                    "name": f"Bänkstad Bolag {index + 1:02d} AB",
                    "kind": OperatorKind.BOLAG,
                    "org_number": None,
                    "parent_id": main["id"],
                    "is_active": True,
                    "version": 1,
                    "created_at": created,
                }
            )
        self.insert(Operator, operators[:1])  # the kommun first: the bolag point at it
        self.insert(Operator, operators[1:])
        self.counts.operators = len(operators)
        units = []
        for index in range(scale.units):
            kind = UnitKind.STADSDELSNAMND if index % 3 == 0 else UnitKind.FACKNAMND
            label = "stadsdelsnämnd" if kind == UnitKind.STADSDELSNAMND else "nämnd"
            units.append(
                {
                    "id": _uid(),
                    "operator_id": main["id"],
                    "name": f"Enhet {index + 1:04d} {label}",
                    "kind": kind,
                    "is_active": True,
                    "deactivated_at": None,
                    "version": 1,
                    "created_at": created,
                }
            )
        for operator in operators[1:]:
            units.append(
                {
                    "id": _uid(),
                    "operator_id": operator["id"],
                    "name": operator["name"],
                    "kind": UnitKind.BOLAG,
                    "is_active": True,
                    "deactivated_at": None,
                    "version": 1,
                    "created_at": created,
                }
            )
        self.insert(OrgUnit, units)
        self.counts.units = len(units)
        self.units = [u["id"] for u in units]
        self.unit_operator = {u["id"]: u["operator_id"] for u in units}
        for u in units:
            events.append(
                self.event(
                    created,
                    "unit.created",
                    None,
                    ("org_unit", u["id"], u["id"], None),
                    changed=["name", "kind"],
                )
            )
        # Skewed sizes: a few big units hold much of the register (the first is the bench's unit).
        weights = [1 / (i + 1) ** 0.7 for i in range(len(units))]
        self.cum_weights = list(accumulate(weights))

        # People: per unit a samordnare, an ersättare and two upphandlare; the chef, a revisor and
        # an administrator at the operator; a chef per bolag.
        shared_hash = passwords.hash(secrets.token_urlsafe(16))
        users: list[dict[str, Any]] = []
        assignments: list[dict[str, Any]] = []
        self.actors: dict[uuid.UUID, dict[str, Any]] = {}
        self.unit_people: dict[uuid.UUID, dict[str, list[uuid.UUID]]] = {}
        self.bench_logins: dict[str, dict[str, str]] = {}

        def person(
            username: str,
            operator_id: uuid.UUID,
            role: Role,
            scope: uuid.UUID,
            *,
            clearance: int = 0,
            bench: str | None = None,
        ) -> uuid.UUID:
            ident = _uid()
            password = None
            password_hash = shared_hash
            if bench:
                password = secrets.token_urlsafe(18)
                password_hash = passwords.hash(password)
            secret = pyotp.random_base32(length=32)
            users.append(
                {
                    "id": ident,
                    "username": username,
                    "display_name": f"Bänk {username}",
                    "email": f"{username}@bench.sakskydd.invalid",
                    "operator_id": operator_id,
                    "clearance": clearance,
                    "is_active": True,
                    "password_hash": password_hash,
                    "password_changed_at": created,
                    "totp_secret_ct": self.seal(secret, "user_account", "totp_secret", ident, None),
                    "totp_pending_ct": None,
                    "totp_enrolled_at": created,
                    "totp_last_step": None,
                    "failed_logins": 0,
                    "last_failed_at": None,
                    "locked_until": None,
                    "last_login_at": None,
                    "created_by_id": None,
                    "version": 1,
                    "created_at": created,
                }
            )
            scope_key = "unit_id" if role.scope == "unit" else "operator_id"
            assignments.append(
                {
                    "id": _uid(),
                    "user_id": ident,
                    "role": role,
                    "unit_id": None,
                    "operator_id": None,
                    scope_key: scope,
                    "status": AssignmentStatus.ACTIVE,
                    "granted_by_id": None,
                    "decided_by_id": None,
                    "decided_at": created,
                    "revoked_by_id": None,
                    "revoked_at": None,
                    "created_at": created,
                }
            )
            attr = {
                "samordnare": "samordnare_units",
                "ersattare": "ersattare_units",
                "upphandlare": "upphandlare_units",
                "chef": "chef_operators",
                "revisor": "revisor_operators",
                "admin": "admin_operators",
            }[role.value]
            self.actors[ident] = {"user": str(ident), "roles": {attr: [str(scope)]}, "clearance": clearance}
            if bench:
                self.bench_logins[bench] = {
                    "username": username,
                    "password": password or "",
                    "totp_secret": secret,
                    "user_id": str(ident),
                }
            events.append(
                self.event(
                    created,
                    "account.created",
                    None,
                    ("user_account", ident, None, None),
                    changed=["username", "display_name", "email"],
                )
            )
            events.append(
                self.event(
                    created,
                    "role.granted",
                    None,
                    ("role_assignment", assignments[-1]["id"], scope if role.scope == "unit" else None, None),
                    detail={"role": role.value},
                )
            )
            return ident

        bench_unit = units[0]["id"]
        for index, u in enumerate(units):
            tag = f"{index + 1:04d}"
            is_bench = u["id"] == bench_unit
            people = {
                "samordnare": [
                    person(
                        f"samordnare{tag}",
                        u["operator_id"],
                        Role.SAMORDNARE,
                        u["id"],
                        clearance=1,
                        bench="samordnare" if is_bench else None,
                    )
                ],
                "ersattare": [
                    person(f"ersattare{tag}", u["operator_id"], Role.ERSATTARE, u["id"], clearance=1)
                ],
                "upphandlare": [
                    person(
                        f"upphandlare{tag}a",
                        u["operator_id"],
                        Role.UPPHANDLARE,
                        u["id"],
                        bench="upphandlare" if is_bench else None,
                    ),
                    person(f"upphandlare{tag}b", u["operator_id"], Role.UPPHANDLARE, u["id"]),
                ],
            }
            self.unit_people[u["id"]] = people
        self.chef = person("chef", main["id"], Role.CHEF, main["id"], clearance=1, bench="chef")
        self.revisor = person("revisor", main["id"], Role.REVISOR, main["id"], bench="revisor")
        person("admin", main["id"], Role.ADMIN, main["id"])
        for operator in operators[1:]:
            person(
                f"chef-{operator['name'].split()[-2]}", operator["id"], Role.CHEF, operator["id"], clearance=1
            )
        self.insert(User, users)
        self.insert(RoleAssignment, assignments)
        self.counts.users = len(users)
        self.all_users = [u["id"] for u in users]

        # Appointments (a few units lack an ersättare: a finding), applicability (a few not yet assessed,
        # some investigating), revision triggers now and then.
        appointments, assessments, triggers = [], [], []
        for index, unit_id in enumerate(self.units):
            people = self.unit_people[unit_id]
            appointments.append(
                {
                    "id": _uid(),
                    "unit_id": unit_id,
                    "user_id": people["samordnare"][0],
                    "role": AppointmentRole.SAMORDNARE,
                    "starts_on": start,
                    "ends_on": None,
                    "reference": f"Dnr {start.year}/{100 + index}",
                    "recorded_by_id": people["samordnare"][0],
                    "version": 1,
                    "created_at": created,
                }
            )
            if index % 11 != 5:
                appointments.append(
                    {
                        "id": _uid(),
                        "unit_id": unit_id,
                        "user_id": people["ersattare"][0],
                        "role": AppointmentRole.ERSATTARE,
                        "starts_on": start,
                        "ends_on": None,
                        "reference": f"Dnr {start.year}/{200 + index}",
                        "recorded_by_id": people["samordnare"][0],
                        "version": 1,
                        "created_at": created,
                    }
                )
            if index % 17 == 16:
                continue  # not assessed yet
            outcome = Applicability.YES if index % 13 != 7 else Applicability.INVESTIGATING
            if index % 29 == 28:
                outcome = Applicability.NO
            decided_on = start + dt.timedelta(days=40 + index % 30)
            ident = _uid()
            assessments.append(
                {
                    "id": ident,
                    "unit_id": unit_id,
                    "outcome": outcome,
                    "decided_on": decided_on,
                    "decided_by": "Nämnden",
                    "reference": f"Dnr {decided_on.year}/{300 + index}",
                    "reasoning_ct": self.seal(
                        "Verksamheten omfattas enligt nämndens bedömning.",
                        "applicability_assessment",
                        "reasoning",
                        ident,
                        unit_id,
                    ),
                    "attested": True,
                    "recorded_by_id": people["samordnare"][0],
                    "created_at": self.at(decided_on),
                }
            )
            events.append(
                self.event(
                    assessments[-1]["created_at"],
                    "unit.applicability_assessed",
                    people["samordnare"][0],
                    ("applicability_assessment", ident, unit_id, None),
                    action="unit.assess",
                    changed=["outcome", "reasoning"],
                    detail={"outcome": outcome.value},
                )
            )
            for year in range(self.first_year + 1, self.today.year + 1):
                if self.rng.random() < 0.25:
                    occurred = dt.date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))
                    if occurred > self.today:
                        continue
                    tid = _uid()
                    kind = self.rng.choice(list(RevisionTriggerKind))
                    triggers.append(
                        {
                            "id": tid,
                            "unit_id": unit_id,
                            "kind": kind,
                            "occurred_on": occurred,
                            "note_ct": self.seal(
                                "Se ärendet i diariet.", "revision_trigger", "note", tid, unit_id
                            ),
                            "attested": True,
                            "recorded_by_id": people["samordnare"][0],
                            "handled_by_analysis_id": None,
                            "created_at": self.at(occurred),
                        }
                    )
                    events.append(
                        self.event(
                            triggers[-1]["created_at"],
                            "unit.trigger_recorded",
                            people["samordnare"][0],
                            ("revision_trigger", tid, unit_id, None),
                            action="unit.record_trigger",
                            changed=["kind", "note"],
                            detail={"kind": kind.value},
                        )
                    )
        self.insert(Appointment, appointments)
        self.insert(ApplicabilityAssessment, assessments)
        self.insert(RevisionTrigger, triggers)
        self.triggers = triggers
        self.unit_triggers: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for trigger in triggers:
            self.unit_triggers[trigger["unit_id"]].append(trigger)

        # The befattningsförteckning of each unit.
        from sakskydd.vetting.models import Position
        from sakskydd.vetting.rules import SecurityClass

        positions = []
        self.unit_positions: dict[uuid.UUID, list[tuple[uuid.UUID, SecurityClass]]] = defaultdict(list)
        classes = [
            SecurityClass.CLASS_2,
            SecurityClass.CLASS_3,
            SecurityClass.CLASS_3,
            SecurityClass.UNPLACED,
            SecurityClass.CLASS_3,
            SecurityClass.CLASS_2,
            SecurityClass.CLASS_1,
        ]
        for unit_id in self.units:
            for index in range(self.scale.positions_per_unit):
                pid = _uid()
                klass = classes[index % len(classes)]
                positions.append(
                    {
                        "id": pid,
                        "unit_id": unit_id,
                        "title": f"{POSITION_TITLES[index % len(POSITION_TITLES)]} {index + 1}",
                        "security_class": klass,
                        "decided_on": start,
                        "decided_by": "Nämnden",
                        "reference": f"Dnr {start.year}/{500 + index}",
                        "government_reference": "Fö2016/01234" if klass == SecurityClass.CLASS_1 else None,
                        "analysis_id": None,
                        "ended_on": None,
                        "created_by_id": self.unit_people[unit_id]["samordnare"][0],
                        "updated_at": None,
                        "version": 1,
                        "created_at": created,
                    }
                )
                self.unit_positions[unit_id].append((pid, klass))
        self.insert(Position, positions)
        self.counts.positions = len(positions)
        self.recent_assets: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        self.recent_cases: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        self.recent_procurements: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        self.last_analysis: dict[uuid.UUID, uuid.UUID] = {}
        self.manifest.update(
            operator_id=str(main["id"]),
            bench_unit_id=str(bench_unit),
            logins=self.bench_logins,
            scale=self.scale.name,
            factor=self.factor,
        )
        return events

    def pick_unit(self) -> uuid.UUID:
        index = bisect.bisect_left(self.cum_weights, self.rng.random() * self.cum_weights[-1])
        return self.units[min(index, len(self.units) - 1)]

    def remember(self, store: dict[uuid.UUID, list[uuid.UUID]], unit_id: uuid.UUID, ident: uuid.UUID) -> None:
        bucket = store[unit_id]
        if len(bucket) < 64:
            bucket.append(ident)
        else:
            bucket[self.rng.randrange(64)] = ident

    def day_in(self, first: dt.date, last: dt.date) -> dt.date:
        return first + dt.timedelta(days=self.rng.randint(0, max((last - first).days, 0)))

    # -- assets, holders, notices --

    def assets(self, count: int, first: dt.date, last: dt.date) -> list[tuple[Any, ...]]:
        from sakskydd.assets.models import (
            AssetHolder,
            AssetRevision,
            AssetStatus,
            AssetType,
            HolderNotice,
            ProtectedAsset,
        )
        from sakskydd.classification import DamageLevel

        rng = self.rng
        events: list[tuple[Any, ...]] = []
        assets, holders, revisions, notices = [], [], [], []
        types = list(AssetType)
        levels = [
            DamageLevel.NONE,
            DamageLevel.MINOR,
            DamageLevel.MINOR,
            DamageLevel.NOT_INSIGNIFICANT,
            DamageLevel.SERIOUS,
            DamageLevel.NONE,
            DamageLevel.EXCEPTIONALLY_SERIOUS,
        ]
        statuses = [
            AssetStatus.NORMAL,
            AssetStatus.PROTECTED,
            AssetStatus.PROTECTED,
            AssetStatus.PROTECTED_OBJECT,
        ]
        for _ in range(count):
            unit_id = self.pick_unit()
            people = self.unit_people[unit_id]
            creator = people["samordnare"][0]
            ident = _uid()
            day = self.day_in(first, last)
            created = self.at(day)
            kind = rng.choice(types)
            classification = 1 if rng.random() < 0.05 else 0
            note = rng.random() < 0.7
            asset = {
                "id": ident,
                "unit_id": unit_id,
                "type": kind,
                "name": f"{rng.choice(ASSET_NAMES)} {rng.randint(1, 9999)}",
                "damage_level": rng.choice(levels),
                "status": rng.choice(statuses),
                "owner": rng.choice(OWNERS),
                "reference": f"Dnr {day.year}/{rng.randint(100, 9999)}",
                "location": "Förvaltningens registratur",
                "risk_assessed_on": day if kind == AssetType.SYSTEM else None,
                "note_ct": self.seal(
                    "Beskrivning finns i förvaltningens registratur; se referensen.",
                    "protected_asset",
                    "note",
                    ident,
                    unit_id,
                )
                if note
                else None,
                "attested": note,
                "classification": classification,
                "is_archived": rng.random() < 0.03,
                "created_by_id": creator,
                "updated_at": None,
                "version": 1,
                "created_at": created,
            }
            assets.append(asset)
            self.remember(self.recent_assets, unit_id, ident)
            target = ("protected_asset", ident, unit_id, classification)
            events.append(
                self.event(
                    created,
                    "asset.created",
                    creator,
                    target,
                    action="asset.create",
                    changed=[
                        "type",
                        "name",
                        "damage_level",
                        "status",
                        "owner",
                        "reference",
                        "location",
                        "classification",
                    ]
                    + (["note"] if note else []),
                )
            )
            # Holders: units of the operator or named users.
            wanted = int(self.scale.holders_per_asset) + (rng.random() < self.scale.holders_per_asset % 1)
            holder_users: set[uuid.UUID] = set()
            seen: set[uuid.UUID] = set()
            for _h in range(wanted):
                if rng.random() < 0.6:
                    other = self.pick_unit()
                    if other in seen:
                        continue
                    seen.add(other)
                    holders.append(
                        {
                            "id": _uid(),
                            "asset_id": ident,
                            "holder_unit_id": other,
                            "user_id": None,
                            "created_at": created,
                        }
                    )
                    holder_users.update(
                        self.unit_people[other]["samordnare"] + self.unit_people[other]["ersattare"]
                    )
                else:
                    user = rng.choice(self.unit_people[self.pick_unit()]["upphandlare"])
                    if user in seen:
                        continue
                    seen.add(user)
                    holders.append(
                        {
                            "id": _uid(),
                            "asset_id": ident,
                            "holder_unit_id": None,
                            "user_id": user,
                            "created_at": created,
                        }
                    )
                    holder_users.add(user)
            # Now and then a status change that reaches every holder, who acknowledges it (mostly).
            if holder_users and rng.random() < 0.08:
                changed_on = day + dt.timedelta(days=rng.randint(1, 400))
                if changed_on <= self.today:
                    when = self.at(changed_on)
                    revision = _uid()
                    old, new = asset["status"], rng.choice(statuses)
                    revisions.append(
                        {
                            "id": revision,
                            "asset_id": ident,
                            "unit_id": unit_id,
                            "actor_id": creator,
                            "changes": {"status": [old.value, new.value]},
                            "created_at": when,
                        }
                    )
                    events.append(
                        self.event(
                            when, "asset.updated", creator, target, action="asset.edit", changed=["status"]
                        )
                    )
                    events.append(
                        self.event(
                            when,
                            "asset.notice_sent",
                            creator,
                            target,
                            action="asset.edit",
                            detail={"recipients": len(holder_users)},
                        )
                    )
                    for user in sorted(holder_users):
                        acknowledged = None
                        if rng.random() < 0.97:
                            ack_day = changed_on + dt.timedelta(days=rng.randint(0, 20))
                            if ack_day <= self.today:
                                acknowledged = self.at(ack_day)
                                events.append(
                                    self.event(
                                        acknowledged,
                                        "asset.notice_acknowledged",
                                        user,
                                        target,
                                        action="asset.notice.acknowledge",
                                    )
                                )
                        notices.append(
                            {
                                "id": _uid(),
                                "asset_id": ident,
                                "unit_id": unit_id,
                                "revision_id": revision,
                                "user_id": user,
                                "acknowledged_at": acknowledged,
                                "last_reminded_at": None,
                                "reminder_count": 0,
                                "version": 1,
                                "created_at": when,
                            }
                        )
        self.insert(ProtectedAsset, assets)
        self.insert(AssetHolder, holders)
        self.insert(AssetRevision, revisions)
        self.insert(HolderNotice, notices)
        self.counts.assets += len(assets)
        self.counts.holders += len(holders)
        self.counts.notices += len(notices)
        return events

    # -- procurements and their duties --

    def procurements(self, count: int, first: dt.date, last: dt.date) -> list[tuple[Any, ...]]:
        from sakskydd.procurements import rules
        from sakskydd.procurements.models import (
            DutyStatus,
            FollowUpRun,
            Procurement,
            ProcurementChange,
            ProcurementDuty,
            ProcurementKind,
            ProcurementStatus,
        )

        rng = self.rng
        events: list[tuple[Any, ...]] = []
        rows, duties, changes = [], [], []
        prompt = self.settings.prompt_duty_days
        for _ in range(count):
            unit_id = self.pick_unit()
            people = self.unit_people[unit_id]
            buyer = rng.choice(people["upphandlare"])
            samordnare = people["samordnare"][0]
            ident = _uid()
            day = self.day_in(first, last)
            created = self.at(day)
            age = (self.today - day).days
            if age > 540:
                status = rng.choices([ProcurementStatus.CLOSED, ProcurementStatus.CONFIRMED], [70, 30])[0]
            elif age > 90:
                status = rng.choices(
                    [
                        ProcurementStatus.CONFIRMED,
                        ProcurementStatus.STOPPED,
                        ProcurementStatus.TRIAGED,
                        ProcurementStatus.CLOSED,
                    ],
                    [85, 3, 4, 8],
                )[0]
            else:
                status = rng.choices(
                    [ProcurementStatus.NEW, ProcurementStatus.TRIAGED, ProcurementStatus.CONFIRMED],
                    [25, 35, 40],
                )[0]
            answers = rules.TriageAnswers(
                classified_access=rng.random() < 0.08,
                sensitive_activity=rng.random() < 0.15,
                where=rng.choice(list(rules.Where)),
                staff_vetting=rng.random() < 0.3,
                restricted_access=rng.random() < 0.3,
                sub_suppliers=rng.random() < 0.3,
            )
            derivation = rules.derive(answers)
            triaged = status != ProcurementStatus.NEW
            confirmed = status in (
                ProcurementStatus.CONFIRMED,
                ProcurementStatus.STOPPED,
                ProcurementStatus.CLOSED,
            )
            procedure = day + dt.timedelta(days=30)
            contract_start = procedure + dt.timedelta(days=120) if confirmed else None
            contract_end = contract_start + dt.timedelta(days=3 * 365) if contract_start else None
            confirmed_on = day + dt.timedelta(days=5) if confirmed else None
            outcome = derivation.outcome if confirmed else None
            signed = (
                contract_start
                if outcome is not None
                and outcome.is_protected
                and contract_start
                and contract_start <= self.today
                else None
            )
            contact = rng.random() < 0.5
            closed_on = (
                contract_end + dt.timedelta(days=70)
                if status == ProcurementStatus.CLOSED and contract_end
                else None
            )
            if status == ProcurementStatus.CLOSED and (closed_on is None or closed_on > self.today):
                closed_on = self.today - dt.timedelta(days=rng.randint(1, 60))
            rows.append(
                {
                    "id": ident,
                    "unit_id": unit_id,
                    "kind": rng.choice(list(ProcurementKind)),
                    "title": f"Upphandling av {rng.choice(SERVICES)} {rng.randint(1, 999)}",
                    "registry_number": f"Dnr {day.year}/{rng.randint(1000, 9999)}",
                    "responsible_id": buyer,
                    "procedure_starts_on": procedure,
                    "contract_starts_on": contract_start,
                    "contract_ends_on": contract_end,
                    "supplier_name": f"Leverantör {rng.randint(1, 500)} AB" if confirmed else None,
                    "supplier_org_number": "556036-0793" if confirmed else None,
                    "supplier_contact_ct": self.seal(
                        "Växel 08-000 00 00", "procurement", "supplier_contact", ident, unit_id
                    )
                    if contact
                    else None,
                    "status": status,
                    "q_classified_access": answers.classified_access if triaged else None,
                    "q_sensitive_activity": answers.sensitive_activity if triaged else None,
                    "q_where": answers.where if triaged else None,
                    "q_staff_vetting": answers.staff_vetting if triaged else None,
                    "q_restricted_access": answers.restricted_access if triaged else None,
                    "q_sub_suppliers": answers.sub_suppliers if triaged else None,
                    "triaged_at": self.at(day + dt.timedelta(days=2)) if triaged else None,
                    "triaged_by_id": buyer if triaged else None,
                    "proposed_outcome": derivation.outcome if triaged else None,
                    "proposed_consultation": derivation.consultation if triaged else None,
                    "outcome": outcome,
                    "consultation": derivation.consultation if confirmed else None,
                    "confirmed_on": confirmed_on,
                    "confirmed_by_id": samordnare if confirmed else None,
                    "overridden": False,
                    "override_reason_ct": None,
                    "signed_on": signed,
                    "final_note_ct": self.seal(
                        "Avslutat utan anmärkning.", "procurement", "final_note", ident, unit_id
                    )
                    if closed_on
                    else None,
                    "closed_on": closed_on,
                    "attested": contact,
                    "classification": 0,
                    "created_by_id": buyer,
                    "updated_at": None,
                    "version": 1,
                    "created_at": created,
                }
            )
            self.remember(self.recent_procurements, unit_id, ident)
            target = ("procurement", ident, unit_id, 0)
            events.append(
                self.event(
                    created,
                    "procurement.created",
                    buyer,
                    target,
                    action="procurement.create",
                    changed=["kind", "title", "registry_number", "responsible_id", "procedure_starts_on"]
                    + (["supplier_contact"] if contact else []),
                )
            )
            changes.append(
                {
                    "id": _uid(),
                    "procurement_id": ident,
                    "actor_id": buyer,
                    "what": "created",
                    "changes": {"title": rows[-1]["title"]},
                    "created_at": created,
                }
            )
            if triaged:
                when = rows[-1]["triaged_at"]
                events.append(
                    self.event(
                        when,
                        "procurement.triaged",
                        buyer,
                        target,
                        action="procurement.triage",
                        changed=["proposed_outcome", "q_where"],
                        detail={
                            "proposed": derivation.outcome.value,
                            "consultation": derivation.consultation,
                            "from_status": "ny",
                        },
                    )
                )
                changes.append(
                    {
                        "id": _uid(),
                        "procurement_id": ident,
                        "actor_id": buyer,
                        "what": "triaged",
                        "changes": {"proposed_outcome": [None, derivation.outcome.value]},
                        "created_at": when,
                    }
                )
            if confirmed and outcome is not None:
                when = self.at(confirmed_on)
                kinds = rules.duties_for(
                    outcome, consultation=derivation.consultation, sub_suppliers=answers.sub_suppliers
                )
                dates = rules.DutyDates(procedure, contract_start, contract_end, confirmed_on, signed)
                events.append(
                    self.event(
                        when,
                        "procurement.confirmed",
                        samordnare,
                        target,
                        action="procurement.confirm",
                        changed=["outcome", "consultation"],
                        detail={
                            "proposed": derivation.outcome.value,
                            "outcome": outcome.value,
                            "consultation": derivation.consultation,
                            "overridden": False,
                            "reason_given": False,
                            "duties_added": len(kinds),
                            "duties_withdrawn": 0,
                            "duties_reopened": 0,
                        },
                    )
                )
                changes.append(
                    {
                        "id": _uid(),
                        "procurement_id": ident,
                        "actor_id": samordnare,
                        "what": "confirmed",
                        "changes": {"outcome": [None, outcome.value]},
                        "created_at": when,
                    }
                )
                for kind in kinds:
                    due = rules.due_on(kind, dates, prompt)
                    # Work gets done: a duty more than a month past its deadline is open in one
                    # case of a hundred, one past it by less in one of three.
                    late = due is not None and due < self.today
                    long_late = due is not None and due < self.today - dt.timedelta(days=30)
                    done = status == ProcurementStatus.CLOSED or (
                        (long_late and rng.random() < 0.99)
                        or (late and not long_late and rng.random() < 0.67)
                    )
                    owner = samordnare if kind == rules.DutyKind.CONSULTATION else buyer
                    done_on = min(due or self.today, self.today) if done else None
                    duty_id = _uid()
                    duties.append(
                        {
                            "id": duty_id,
                            "procurement_id": ident,
                            "unit_id": unit_id,
                            "kind": kind,
                            "position": rules.DUTY_ORDER.index(kind),
                            "owner_id": owner,
                            "due_on": due,
                            "status": DutyStatus.DONE if done else DutyStatus.OPEN,
                            "done_on": done_on,
                            "done_by_id": owner if done else None,
                            "reference": f"Dnr {day.year}/{rng.randint(100, 999)}" if done else None,
                            "consultation_outcome": None,
                            "count_required": 0 if kind == rules.DutyKind.STAFF_VETTING else None,
                            "count_done": 0 if kind == rules.DutyKind.STAFF_VETTING else None,
                            "note_ct": None,
                            "attested": False,
                            "updated_at": None,
                            "version": 1,
                            "created_at": when,
                        }
                    )
                    if done and done_on is not None:
                        events.append(
                            self.event(
                                self.at(max(done_on, confirmed_on)),
                                "procurement.duty_updated",
                                owner,
                                target,
                                action="procurement.duty.update",
                                changed=["status", "done_on", "reference"],
                                detail={"duty": kind.value, "status": "klar"},
                            )
                        )
        runs = []
        cadence = dict(
            zip(("sua_1", "sua_2", "sua_3", "overenskommelse"), self.settings.follow_up_months, strict=True)
        )
        for row in rows:
            outcome = row["outcome"]
            if row["status"] != ProcurementStatus.CONFIRMED or outcome is None or row["signed_on"] is None:
                continue
            months = cadence.get(outcome.value)
            if months is None or rng.random() < 0.04:
                continue  # not followed up yet: an overdue follow-up
            if (self.today - row["signed_on"]).days < months * 30:
                continue  # the first one is not due yet
            performed = self.today - dt.timedelta(days=rng.randint(1, months * 30 - 15))
            by = self.unit_people[row["unit_id"]]["samordnare"][0]
            run = {
                "id": _uid(),
                "procurement_id": row["id"],
                "unit_id": row["unit_id"],
                "template_id": None,
                "performed_on": performed,
                "performed_by_id": by,
                "results": [[item, "uppfyllt"] for item in FOLLOW_UP_ITEMS],
                "findings_ct": None,
                "attested": False,
                "created_at": self.at(performed),
            }
            runs.append(run)
            events.append(
                self.event(
                    run["created_at"],
                    "procurement.follow_up_recorded",
                    by,
                    ("procurement", row["id"], row["unit_id"], 0),
                    action="procurement.follow_up",
                    detail={"actions": 0, "findings": False},
                )
            )
        self.insert(Procurement, rows)
        self.insert(ProcurementDuty, duties)
        self.insert(ProcurementChange, changes)
        self.insert(FollowUpRun, runs)
        self.counts.procurements += len(rows)
        self.counts.duties += len(duties)
        return events

    # -- vetting cases and their checklists --

    def vetting(self, count: int, first: dt.date, last: dt.date) -> list[tuple[Any, ...]]:
        from sakskydd.crypto.fields import blind_index
        from sakskydd.demo_vetting import synthetic_personnummer
        from sakskydd.vetting import rules
        from sakskydd.vetting.models import CaseStatus, StepStatus, VettingCase, VettingChange, VettingStep

        rng = self.rng
        events: list[tuple[Any, ...]] = []
        cases, steps, changes = [], [], []
        for _ in range(count):
            unit_id = self.pick_unit()
            people = self.unit_people[unit_id]
            samordnare, ersattare = people["samordnare"][0], people["ersattare"][0]
            position_id, klass = rng.choice(self.unit_positions[unit_id])
            ident = _uid()
            day = self.day_in(first, last)
            created = self.at(day)
            age = (self.today - day).days
            if age > 730:
                status = rng.choices(
                    [CaseStatus.APPROVED, CaseStatus.CLOSED, CaseStatus.NOT_APPROVED], [55, 40, 5]
                )[0]
            elif age > 60:
                status = rng.choices(
                    [CaseStatus.APPROVED, CaseStatus.IN_PROGRESS, CaseStatus.NOT_APPROVED, CaseStatus.CLOSED],
                    [85, 5, 5, 5],
                )[0]
            else:
                status = rng.choices([CaseStatus.IN_PROGRESS, CaseStatus.DECIDED], [80, 20])[0]
            birth = dt.date(rng.randint(1955, 2003), rng.randint(1, 12), rng.randint(1, 28))
            pnr = synthetic_personnummer(birth, rng.randint(100, 999))
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            decided = status in (
                CaseStatus.DECIDED,
                CaseStatus.APPROVED,
                CaseStatus.NOT_APPROVED,
                CaseStatus.CLOSED,
            )
            decided_on = min(day + dt.timedelta(days=45), self.today) if decided else None
            confirmed = decided and status != CaseStatus.DECIDED
            confirmed_on = (
                min(decided_on + dt.timedelta(days=2), self.today) if confirmed and decided_on else None
            )
            decision = None
            if decided:
                decision = (
                    rules.Decision.NOT_APPROVED
                    if status == CaseStatus.NOT_APPROVED
                    else rules.Decision.APPROVED
                )
            left_on = closed_on = deregistered = None
            if status == CaseStatus.CLOSED and confirmed_on:
                left_on = min(confirmed_on + dt.timedelta(days=rng.randint(200, 2000)), self.today)
                deregistered = (
                    left_on + dt.timedelta(days=3) if left_on + dt.timedelta(days=3) <= self.today else None
                )
                closed_on = deregistered or left_on
            if status == CaseStatus.NOT_APPROVED:
                closed_on = confirmed_on
            checked = decided_on - dt.timedelta(days=5) if decided_on and klass.has_register_check else None
            rechecks: list[dt.date] = []
            if checked and status == CaseStatus.APPROVED and klass.has_special_investigation:
                # Omkontroll every fifth year, a few weeks early; one person in fifty is late.
                while rules.add_years(checked, 5) - dt.timedelta(days=40) <= self.today:
                    if rng.random() < 0.02 and rules.add_years(checked, 5) > self.today - dt.timedelta(
                        days=200
                    ):
                        break
                    checked = rules.add_years(checked, 5) - dt.timedelta(days=rng.randint(10, 40))
                    rechecks.append(checked)
            cases.append(
                {
                    "id": ident,
                    "unit_id": unit_id,
                    "position_id": position_id,
                    "security_class": klass,
                    "person_name_ct": self.seal(name, "vetting_case", "person_name", ident, unit_id),
                    "personnummer_ct": self.seal(pnr, "vetting_case", "personnummer", ident, unit_id),
                    "pnr_index": blind_index(pnr, unit_id, self.keyring),
                    "status": status,
                    "decision": decision,
                    "decided_on": decided_on,
                    "decided_by_id": samordnare if decided else None,
                    "decision_reference": f"Dnr B {day.year}/{rng.randint(1, 999)}" if decided else None,
                    "confirmed_on": confirmed_on,
                    "confirmed_by_id": ersattare if confirmed else None,
                    "checked_on": checked,
                    "left_on": left_on,
                    "deregistered_on": deregistered,
                    "deregistration_reference": "Dnr A" if deregistered else None,
                    "closed_on": closed_on,
                    "anonymised_on": None,
                    "created_by_id": samordnare,
                    "updated_at": None,
                    "version": 1,
                    "created_at": created,
                }
            )
            self.remember(self.recent_cases, unit_id, ident)
            target = ("vetting_case", ident, unit_id, 0)
            events.append(
                self.event(
                    created,
                    "vetting.case_opened",
                    samordnare,
                    target,
                    action="vetting.open",
                    changed=["person_name", "personnummer", "position_id"],
                    detail={"security_class": klass.value},
                )
            )
            changes.append(
                {
                    "id": _uid(),
                    "case_id": ident,
                    "actor_id": samordnare,
                    "what": "opened",
                    "changes": {"person_name": None, "personnummer": None, "position_id": str(position_id)},
                    "created_at": created,
                }
            )
            kinds = rules.steps_for(klass)
            done_until = len(kinds) - 1 if decided else rng.randint(0, len(kinds) - 2)
            for position, kind in enumerate(kinds):
                done = position < done_until or (
                    kind == rules.StepKind.TRAINING and status == CaseStatus.APPROVED
                )
                done_on = min(day + dt.timedelta(days=3 * position + 1), self.today) if done else None
                steps.append(
                    {
                        "id": _uid(),
                        "case_id": ident,
                        "unit_id": unit_id,
                        "kind": kind,
                        "position": rules.STEP_ORDER.index(kind),
                        "status": StepStatus.DONE if done else StepStatus.OPEN,
                        "done_on": done_on,
                        "done_by_id": samordnare if done else None,
                        "reference": f"P {day.year}/{position + 1}" if done else None,
                        "control_reason": rules.ControlReason.PLACEMENT
                        if kind == rules.StepKind.REGISTER_CHECK_REQUESTED and done
                        else None,
                        "template_id": None,
                        "updated_at": None,
                        "version": 1,
                        "created_at": created,
                    }
                )
                if done and done_on is not None:
                    events.append(
                        self.event(
                            self.at(done_on),
                            "vetting.step_updated",
                            samordnare,
                            target,
                            action="vetting.update_step",
                            changed=["status", "done_on", "reference"],
                            detail={"step": kind.value, "status": "klar"},
                        )
                    )
            if decided and decided_on:
                events.append(
                    self.event(
                        self.at(decided_on),
                        "vetting.decided",
                        samordnare,
                        target,
                        action="vetting.decide",
                        changed=["decision", "decided_on"],
                        detail={"decision": decision.value if decision else None},
                    )
                )
            for recheck in rechecks:
                events.append(
                    self.event(
                        self.at(recheck),
                        "vetting.rechecked",
                        samordnare,
                        target,
                        action="vetting.recheck",
                        changed=["checked_on"],
                        detail={"checked_on": recheck.isoformat()},
                    )
                )
            if confirmed and confirmed_on:
                events.append(
                    self.event(
                        self.at(confirmed_on),
                        "vetting.decision_confirmed",
                        ersattare,
                        target,
                        action="vetting.confirm",
                        changed=["status"],
                        detail={"decision": decision.value if decision else None},
                    )
                )
        self.insert(VettingCase, cases)
        self.insert(VettingStep, steps)
        self.insert(VettingChange, changes)
        self.counts.vetting_cases += len(cases)
        self.counts.vetting_steps += len(steps)
        return events

    # -- analyses with their plans --

    def analyses(self, year: int) -> list[tuple[Any, ...]]:
        from sakskydd.analyses.models import (
            AnalysisAsset,
            AnalysisOutcome,
            AnalysisReference,
            AnalysisStatus,
            AnalysisTransition,
            Measure,
            MeasureArea,
            MeasureStatus,
            ReferenceKind,
            SecurityAnalysis,
        )
        from sakskydd.classification import DamageLevel

        rng = self.rng
        events: list[tuple[Any, ...]] = []
        analyses, measures, references, transitions, links = [], [], [], [], []
        created_day = dt.date(year, 9, rng.randint(1, 25))
        submitted_day = dt.date(year, 10, 15)
        approved_day = dt.date(year, 11, 20)
        for unit_id in self.units:
            if created_day > self.today:
                break
            people = self.unit_people[unit_id]
            author = people["samordnare"][0]
            status = AnalysisStatus.APPROVED
            if approved_day > self.today:
                status = rng.choice(
                    [AnalysisStatus.DRAFT, AnalysisStatus.SUBMITTED, AnalysisStatus.SUBMITTED]
                )
                if submitted_day > self.today:
                    status = AnalysisStatus.DRAFT
            elif rng.random() < 0.04:
                continue  # a unit that skipped a year: an overdue analysis in the picture
            ident = _uid()
            created = self.at(created_day)
            submitted = self.at(submitted_day) if status != AnalysisStatus.DRAFT else None
            decided = self.at(approved_day) if status == AnalysisStatus.APPROVED else None
            sealed = {
                name: self.seal(text, "security_analysis", name, ident, unit_id)
                for name, text in (
                    ("scope_note", "Förvaltningen har beroenden till stadens IT-drift och fastigheter."),
                    ("threat_summary", "Se Säkerhetspolisens lägesbild och stadens hotbildsunderlag."),
                    ("conclusion", "Delar av verksamheten är säkerhetskänslig; åtgärder enligt planen."),
                )
            }
            analyses.append(
                {
                    "id": ident,
                    "unit_id": unit_id,
                    "cycle_year": year,
                    "version_no": 1,
                    "based_on_id": self.last_analysis.get(unit_id),
                    "status": status,
                    "title": f"Säkerhetsskyddsanalys {year}",
                    "cat_external_security": rng.random() < 0.3,
                    "cat_internal_security": rng.random() < 0.3,
                    "cat_essential_services": True,
                    "cat_economy": rng.random() < 0.2,
                    "cat_dependencies": True,
                    "international_commitments": False,
                    "outcome": AnalysisOutcome.SENSITIVE,
                    "scope_note_ct": sealed["scope_note"],
                    "threat_summary_ct": sealed["threat_summary"],
                    "vulnerability_summary_ct": None,
                    "conclusion_ct": sealed["conclusion"],
                    "attested": True,
                    "classification": 0,
                    "due_on": dt.date(year, 10, 31),
                    "created_by_id": author,
                    "submitted_by_id": author if submitted else None,
                    "submitted_at": submitted,
                    "decided_by_id": self.chef if decided else None,
                    "decided_at": decided,
                    "updated_at": submitted,
                    "version": 1,
                    "created_at": created,
                }
            )
            self.last_analysis[unit_id] = ident
            target = ("security_analysis", ident, unit_id, 0)
            events.append(
                self.event(
                    created,
                    "analysis.created",
                    author,
                    target,
                    action="analysis.create",
                    changed=["title", "scope_note", "threat_summary", "conclusion"],
                )
            )
            transitions.append(
                {
                    "id": _uid(),
                    "analysis_id": ident,
                    "unit_id": unit_id,
                    "from_status": None,
                    "to_status": AnalysisStatus.DRAFT,
                    "actor_id": author,
                    "comment_ct": None,
                    "created_at": created,
                }
            )
            if submitted:
                transitions.append(
                    {
                        "id": _uid(),
                        "analysis_id": ident,
                        "unit_id": unit_id,
                        "from_status": AnalysisStatus.DRAFT,
                        "to_status": AnalysisStatus.SUBMITTED,
                        "actor_id": author,
                        "comment_ct": None,
                        "created_at": submitted,
                    }
                )
                events.append(
                    self.event(
                        submitted,
                        "analysis.transition",
                        author,
                        target,
                        action="analysis.submit",
                        detail={"from": "utkast", "to": "inskickad"},
                    )
                )
            if decided:
                tid = _uid()
                transitions.append(
                    {
                        "id": tid,
                        "analysis_id": ident,
                        "unit_id": unit_id,
                        "from_status": AnalysisStatus.SUBMITTED,
                        "to_status": AnalysisStatus.APPROVED,
                        "actor_id": self.chef,
                        "comment_ct": self.seal(
                            "Fastställd utan ändringar.", "analysis_transition", "comment", tid, unit_id
                        ),
                        "created_at": decided,
                    }
                )
                events.append(
                    self.event(
                        decided,
                        "analysis.transition",
                        self.chef,
                        target,
                        action="analysis.approve",
                        detail={"from": "inskickad", "to": "faststalld"},
                    )
                )
            for index in range(rng.randint(4, 8)):
                area, title = MEASURE_TITLES[(index + year) % len(MEASURE_TITLES)]
                due = dt.date(year + 1, rng.randint(1, 12), 28)
                if due < self.today - dt.timedelta(days=30):
                    measure_status = rng.choices(
                        [MeasureStatus.DONE, MeasureStatus.NOT_DONE, MeasureStatus.IN_PROGRESS], [85, 5, 10]
                    )[0]
                else:
                    measure_status = rng.choice(
                        [MeasureStatus.PLANNED, MeasureStatus.IN_PROGRESS, MeasureStatus.DONE]
                    )
                mid = _uid()
                measures.append(
                    {
                        "id": mid,
                        "analysis_id": ident,
                        "unit_id": unit_id,
                        "area": MeasureArea(area),
                        "title": title,
                        "description_ct": self.seal(
                            "Genomförs enligt förvaltningens plan.", "measure", "description", mid, unit_id
                        )
                        if index % 2 == 0
                        else None,
                        "attested": index % 2 == 0,
                        "responsible_function": rng.choice(OWNERS),
                        "due_on": due,
                        "status": measure_status,
                        "done_on": min(due, self.today) if measure_status == MeasureStatus.DONE else None,
                        "version": 1,
                        "created_at": created,
                    }
                )
            for kind, reference in (
                (ReferenceKind.THREAT, f"SÄK {year}/12"),
                (ReferenceKind.SOURCE, f"Dnr {year}/45"),
            ):
                rid = _uid()
                references.append(
                    {
                        "id": rid,
                        "analysis_id": ident,
                        "unit_id": unit_id,
                        "kind": kind,
                        "reference": reference,
                        "location": "Säkerhetsavdelningen",
                        "document_classification": 3 if kind == ReferenceKind.THREAT else 0,
                        "summary_ct": self.seal(
                            "Verksamhetsplan för året.", "analysis_reference", "summary", rid, unit_id
                        )
                        if kind == ReferenceKind.SOURCE
                        else None,
                        "attested": kind == ReferenceKind.SOURCE,
                        "created_at": created,
                    }
                )
            for asset_id in rng.sample(self.recent_assets[unit_id], min(4, len(self.recent_assets[unit_id]))):
                links.append(
                    {
                        "id": _uid(),
                        "analysis_id": ident,
                        "asset_id": asset_id,
                        "damage_level": rng.choice(list(DamageLevel)),
                        "created_at": created,
                    }
                )
            # Revision triggers before the approval are handled by it.
            if decided:
                for trigger in self.unit_triggers.get(unit_id, ()):
                    if trigger["handled_by_analysis_id"] is None and trigger["occurred_on"] < created_day:
                        trigger["handled_by_analysis_id"] = ident
        self.insert(SecurityAnalysis, analyses)
        self.insert(Measure, measures)
        self.insert(AnalysisReference, references)
        self.insert(AnalysisTransition, transitions)
        self.insert(AnalysisAsset, links)
        self.counts.analyses += len(analyses)
        self.counts.measures += len(measures)
        handled = [
            t for t in self.triggers if t["handled_by_analysis_id"] is not None and "_written" not in t
        ]
        if handled:
            from sqlalchemy import bindparam, update

            from sakskydd.organisations.models import RevisionTrigger

            table = RevisionTrigger.__table__
            self.db.connection().execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(handled_by_analysis_id=bindparam("b_a")),
                [{"b_id": t["id"], "b_a": t["handled_by_analysis_id"]} for t in handled],
            )
            for t in handled:
                t["_written"] = True
        return events

    # -- ten years of use --

    def filler(self, count: int, first: dt.date, last: dt.date) -> list[tuple[Any, ...]]:
        rng = self.rng
        kinds = [k for k, _ in FILLER_EVENTS]
        weights = list(accumulate(w for _, w in FILLER_EVENTS))
        events = []
        for _ in range(count):
            kind = kinds[bisect.bisect_left(weights, rng.random() * weights[-1])]
            unit_id = self.pick_unit()
            people = self.unit_people[unit_id]
            user = rng.choice(people["samordnare"] + people["ersattare"] + people["upphandlare"])
            when = self.at(self.day_in(first, last))
            if kind in ("auth.login.success", "auth.mfa.success", "session.ended", "session.expired"):
                events.append(self.event(when, kind, user, ("user_account", user, None, None)))
            elif kind == "asset.read" and self.recent_assets[unit_id]:
                events.append(
                    self.event(
                        when,
                        kind,
                        user,
                        ("protected_asset", rng.choice(self.recent_assets[unit_id]), unit_id, 0),
                        action="asset.read",
                        detail={"view": "detail"},
                    )
                )
            elif kind == "analysis.read" and unit_id in self.last_analysis:
                events.append(
                    self.event(
                        when,
                        kind,
                        user,
                        ("security_analysis", self.last_analysis[unit_id], unit_id, 0),
                        action="analysis.read",
                    )
                )
            elif kind == "procurement.read" and self.recent_procurements[unit_id]:
                events.append(
                    self.event(
                        when,
                        kind,
                        user,
                        ("procurement", rng.choice(self.recent_procurements[unit_id]), unit_id, 0),
                        action="procurement.read",
                        detail={"view": "detail"},
                    )
                )
            elif kind == "vetting.read_personal" and self.recent_cases[unit_id]:
                shown = self.recent_cases[unit_id][:25]
                events.append(
                    self.event(
                        when,
                        kind,
                        people["samordnare"][0],
                        ("org_unit", unit_id, unit_id, None),
                        action="vetting.cases",
                        detail={"view": "list", "cases": [str(c) for c in shown]},
                    )
                )
            elif kind == "oversight.read":
                events.append(
                    self.event(
                        when,
                        kind,
                        self.chef,
                        ("operator", self.unit_operator[unit_id], None, None),
                        action="oversight.view",
                        detail={"units": len(self.units), "filters": {}},
                    )
                )
            elif kind == "audit.searched":
                events.append(
                    self.event(
                        when,
                        kind,
                        self.revisor,
                        None,
                        action="audit.search",
                        detail={"shown": 50, "event": "asset.read"},
                    )
                )
            elif kind == "authz.deny":
                events.append(
                    self.event(
                        when,
                        kind,
                        user,
                        None,
                        outcome="denied",
                        detail={"reason": "policy", "endpoint": "assets.detail"},
                    )
                )
            else:
                events.append(
                    self.event(
                        when, "unit.read", user, ("org_unit", unit_id, unit_id, None), action="unit.read"
                    )
                )
        return events

    # -- padding for the re-encryption figure --

    def pad_encrypted(self) -> None:
        """Uppföljningsanteckningar on vetting cases until there are `encrypted_target` encrypted values."""
        from sakskydd.vetting.models import VettingNote

        missing = self.encrypted_target - self.counts.encrypted_fields
        if missing <= 0:
            return
        log(f"adding {missing} vetting notes (encrypted) for the re-encryption figure")
        units = [u for u in self.units if self.recent_cases[u]]
        rows: list[dict[str, Any]] = []
        events = []
        for _ in range(missing):
            unit_id = self.rng.choice(units)
            case_id = self.rng.choice(self.recent_cases[unit_id])
            ident = _uid()
            day = self.today - dt.timedelta(days=self.rng.randint(1, 3000))
            rows.append(
                {
                    "id": ident,
                    "case_id": case_id,
                    "unit_id": unit_id,
                    "noted_on": day,
                    "text_ct": self.seal(
                        "Uppföljningssamtal genomfört; inget att notera.",
                        "vetting_note",
                        "text",
                        ident,
                        unit_id,
                    ),
                    "attested": True,
                    "created_by_id": self.unit_people[unit_id]["samordnare"][0],
                    "created_at": self.at(day),
                }
            )
            if len(rows) >= 20_000:
                self.insert(VettingNote, rows)
                self.counts.vetting_notes += len(rows)
                rows = []
                self.db.commit()
        self.insert(VettingNote, rows)
        self.counts.vetting_notes += len(rows)
        del events

    # -- a few objects through the services themselves --

    def through_services(self) -> None:
        """In the bench's unit: assets with holders and a notifying change, procurements through
        triage and confirmation, vetting cases; as a check that the services accept the data."""
        from sakskydd.accounts.models import User
        from sakskydd.assets import services as assets
        from sakskydd.demo_vetting import synthetic_personnummer
        from sakskydd.organisations.models import OrgUnit
        from sakskydd.procurements import services as procurements
        from sakskydd.procurements.rules import Outcome, TriageAnswers, Where
        from sakskydd.vetting import services as vetting

        unit = self.db.get(OrgUnit, self.units[0])
        people = self.unit_people[unit.id]
        samordnare = self.db.get(User, people["samordnare"][0])
        buyer = self.db.get(User, people["upphandlare"][0])
        other = self.db.get(User, people["upphandlare"][1])
        made = {"assets": 0, "procurements": 0, "vetting_cases": 0}
        for index in range(5):
            values = {
                "type": "informationssystem",
                "name": f"Tjänstesystem {index}",
                "damage_level": "ringa",
                "status": "skyddsvart",
                "owner": "IT-chef",
                "reference": f"Dnr 2026/{index}",
                "location": None,
                "risk_assessed_on": None,
                "note": "Se förvaltningens registratur.",
                "classification": 0,
            }
            asset = assets.create_asset(samordnare, unit, values, attested=True)
            assets.add_holder(samordnare, asset, user=other)
            # A status change: the holder gets a notice (and an e-mail in the outbox).
            assets.update_asset(
                samordnare, asset, {**values, "status": "skyddsobjekt"}, asset.version, attested=True
            )
            made["assets"] += 1
        for index in range(3):
            p = procurements.create_procurement(
                buyer,
                unit,
                {
                    "kind": "upphandling",
                    "title": f"Tjänsteupphandling {index}",
                    "registry_number": f"Dnr 2026/7{index}",
                    "responsible_id": buyer.id,
                    "procedure_starts_on": self.today + dt.timedelta(days=30),
                    "contract_starts_on": None,
                    "contract_ends_on": None,
                    "supplier_name": None,
                    "supplier_org_number": None,
                    "supplier_contact": None,
                    "classification": 0,
                },
                attested=True,
            )
            procurements.triage(
                buyer,
                p,
                TriageAnswers(
                    classified_access=False,
                    sensitive_activity=False,
                    where=Where.OURS,
                    staff_vetting=True,
                    restricted_access=False,
                    sub_suppliers=False,
                ),
                p.version,
            )
            procurements.confirm(
                samordnare,
                p,
                outcome=Outcome.SUA_3,
                consultation=False,
                reason=None,
                attested=False,
                version=p.version,
            )
            made["procurements"] += 1
        position_id = self.unit_positions[unit.id][0][0]
        for index in range(3):
            vetting.open_case(
                samordnare,
                unit,
                position_id=position_id,
                person_name=f"Tjänst Person {index}",
                personnummer=synthetic_personnummer(dt.date(1980, 1, index + 1), 400 + index),
            )
            made["vetting_cases"] += 1
        self.counts.through_services = made


# --- entry point ------------------------------------------------------------------------------------


def prepare(out: Path, database_url: str | None) -> dict[str, str]:
    """The instance folder, key file, signing key, migrated schema and first keys."""
    from sakskydd.cli import prepare_instance
    from sakskydd.crypto.providers import generate_kek_file

    env = instance_env(out, database_url)
    settings = settings_from(env)
    if settings.kek_file is not None and not settings.kek_file.exists():
        generate_kek_file(settings.kek_file)
    prepare_instance(settings)
    return env


def generate(
    out: Path, scale: Scale, factor: float, database_url: str | None, encrypted_fields: int, seed: int
) -> dict[str, Any]:
    from sakskydd import create_app

    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    env = prepare(out, database_url)
    settings = settings_from(env)
    app = create_app(settings)
    engine = app.extensions["sakskydd.db"].engine
    if engine.dialect.name == "sqlite":
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # The generator's own connection only: a big page cache and no fsync while loading.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA cache_size=-1000000")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

        engine.dispose()
    with app.app_context():
        generator = Generator(app, scale, factor, encrypted_fields, seed)
        counts = generator.run()
        manifest = dict(generator.manifest)
    from sakskydd.extensions import db as _db  # noqa: F401

    app.extensions["sakskydd.db"].dispose()
    if engine.dialect.name == "postgresql":
        from sqlalchemy import create_engine, text

        admin = create_engine(database_url or "", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("VACUUM ANALYZE"))
        admin.dispose()
    else:
        import sqlite3

        connection = sqlite3.connect(str(out / "sakskydd.db"))
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("ANALYZE")
        connection.close()
    manifest.update(
        counts=asdict(counts),
        seconds=round(time.monotonic() - started, 1),
        database_url=database_url or "sqlite",
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        seed=seed,
        encrypted_target=encrypted_fields,
    )
    path = out / "manifest.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the bench logins
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, ensure_ascii=False)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for instance/, sakskydd.db, manifest.json"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="city")
    parser.add_argument(
        "--factor", type=float, default=1.0, help="share of the scale's row counts (0 < F ≤ 1)"
    )
    parser.add_argument(
        "--database-url", default=None, help="default: SQLite in --out; national needs PostgreSQL"
    )
    parser.add_argument(
        "--encrypted-fields",
        type=int,
        default=0,
        help="pad with encrypted vetting notes up to this many encrypted values",
    )
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args(argv)
    if args.scale == "national" and not (args.database_url or "").startswith("postgresql"):
        parser.error("national scale runs on PostgreSQL only (--database-url postgresql+psycopg://…)")
    manifest = generate(
        args.out, SCALES[args.scale], args.factor, args.database_url, args.encrypted_fields, args.seed
    )
    print(json.dumps({k: v for k, v in manifest.items() if k != "logins"}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
