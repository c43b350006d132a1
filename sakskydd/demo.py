"""Demo data: Stockholms stad with its real nämnder, a few real bolag, one account per role.

Refused in production. Passwords and TOTP secrets are random per installation; they are
printed and kept in instance/demo-accounts.txt (mode 0600) so that `make run` can show them again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pyotp
from flask import current_app
from sqlalchemy import select

from sakskydd import audit
from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.demo_casework import load_casework
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator, OperatorKind, OrgUnit, UnitKind

CITY = "Stockholms stad"

STADSDELSNAMNDER = [
    "Bromma stadsdelsnämnd",
    "Enskede-Årsta-Vantörs stadsdelsnämnd",
    "Farsta stadsdelsnämnd",
    "Hägersten-Älvsjö stadsdelsnämnd",
    "Hässelby-Vällingby stadsdelsnämnd",
    "Kungsholmens stadsdelsnämnd",
    "Norrmalms stadsdelsnämnd",
    "Rinkeby-Kista stadsdelsnämnd",
    "Skarpnäcks stadsdelsnämnd",
    "Skärholmens stadsdelsnämnd",
    "Spånga-Tensta stadsdelsnämnd",
    "Södermalms stadsdelsnämnd",
    "Östermalms stadsdelsnämnd",
]

FACKNAMNDER = [
    "Kommunstyrelsen (stadsledningskontoret)",
    "Arbetsmarknadsnämnden",
    "Exploateringsnämnden",
    "Fastighetsnämnden",
    "Idrottsnämnden",
    "Kulturnämnden",
    "Kyrkogårdsnämnden",
    "Miljö- och hälsoskyddsnämnden",
    "Servicenämnden",
    "Socialnämnden",
    "Stadsbyggnadsnämnden",
    "Trafiknämnden",
    "Utbildningsnämnden",
    "Valnämnden",
    "Äldrenämnden",
    "Överförmyndarnämnden",
]

BOLAG = [
    "Stockholm Vatten och Avfall AB",
    "Stokab AB",
    "Stockholms Hamn AB",
    "AB Svenska Bostäder",
    "SISAB – Skolfastigheter i Stockholm AB",
]

# (username, name, role, scope) – scope is a unit name of the city, or an operator name.
ACCOUNTS = [
    ("admin", "Alva Admin", Role.ADMIN, CITY),
    ("admin2", "Arvid Andra-Admin", Role.ADMIN, CITY),
    ("chef", "Cecilia Chef", Role.CHEF, CITY),
    ("samordnare", "Sara Samordnare", Role.SAMORDNARE, "Kulturnämnden"),
    ("ersattare", "Erik Ersättare", Role.ERSATTARE, "Kulturnämnden"),
    ("upphandlare", "Ulla Upphandlare", Role.UPPHANDLARE, "Kulturnämnden"),
    ("revisor", "Rolf Revisor", Role.REVISOR, CITY),
    ("bolagschef", "Bodil Bolagschef", Role.CHEF, "Stokab AB"),
]


class DemoRefused(RuntimeError):
    pass


def _accounts_file() -> Path:
    return Path(current_app.config["SAKSKYDD_SETTINGS"].instance_path) / "demo-accounts.txt"


def load_demo() -> str:
    """Create the demo data once; return the account sheet (also on later runs)."""
    settings = current_app.config["SAKSKYDD_SETTINGS"]
    if settings.is_production:
        raise DemoRefused(
            "the demo cannot be loaded into a production configuration (SAKSKYDD_ENV=production)"
        )
    if db.scalar(select(Operator.id).where(Operator.name == CITY)) is not None:
        path = _accounts_file()
        return path.read_text("utf-8") if path.exists() else "Demo data already loaded."
    passwords = current_app.extensions["sakskydd.passwords"]
    city = Operator(name=CITY, kind=OperatorKind.KOMMUN, org_number="212000-0142")
    db.add(city)
    db.flush()
    units: dict[str, OrgUnit] = {}
    for name in STADSDELSNAMNDER:
        units[name] = OrgUnit(operator_id=city.id, name=name, kind=UnitKind.STADSDELSNAMND)
    for name in FACKNAMNDER:
        units[name] = OrgUnit(operator_id=city.id, name=name, kind=UnitKind.FACKNAMND)
    operators = {CITY: city}
    for name in BOLAG:
        operator = Operator(name=name, kind=OperatorKind.BOLAG, parent_id=city.id)
        db.add(operator)
        db.flush()
        operators[name] = operator
        units[name] = OrgUnit(operator_id=operator.id, name=name, kind=UnitKind.BOLAG)
    db.add_all(units.values())
    db.flush()
    now = utcnow()
    lines = [
        "Demokonton för sakskydd (endast demo – lösenord och TOTP-nycklar är slumpade "
        "för den här installationen)",
        f"Adress: {settings.base_url}",
        "",
    ]
    users: dict[str, User] = {}
    for username, name, role, scope in ACCOUNTS:
        password = "-".join(secrets.token_urlsafe(4) for _ in range(4))
        secret = pyotp.random_base32(length=32)
        home = operators.get(scope) or city
        user = User(
            username=username,
            display_name=name,
            email=f"{username}@demo.sakskydd.invalid",
            operator_id=home.id,
            password_hash=passwords.hash(password),
            password_changed_at=now,
            totp_enrolled_at=now,
        )
        db.add(user)
        db.flush()
        users[username] = user
        user.totp_secret = secret
        if role.scope == "unit":
            assignment = RoleAssignment(
                user_id=user.id,
                role=role,
                unit_id=units[scope].id,
                status=AssignmentStatus.ACTIVE,
                decided_at=now,
            )
        else:
            assignment = RoleAssignment(
                user_id=user.id,
                role=role,
                operator_id=operators[scope].id,
                status=AssignmentStatus.ACTIVE,
                decided_at=now,
            )
        db.add(assignment)
        lines.append(
            f"{username:<12} lösenord: {password}   TOTP-nyckel: {secret}   ({name}, {role.value}, {scope})"
        )
    lines += [
        "",
        'Lägg in TOTP-nyckeln i en autentiseringsapp, eller: python -c "import pyotp; '
        "print(pyotp.TOTP('NYCKEL').now())\"",
    ]
    db.flush()
    casework = load_casework(operators, units, users)
    audit.record(
        Event.DEMO_LOADED,
        detail={"operators": len(operators), "units": len(units), "accounts": len(ACCOUNTS), **casework},
    )
    db.commit()
    text = "\n".join(lines) + "\n"
    fd = os.open(_accounts_file(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return text
