"""The `sakskydd` command: init, demo, serve, users, keys, audit, policies, reminders, retention."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import select

from sakskydd.config import Settings
from sakskydd.db import utcnow
from sakskydd.resources import resource_dir


def _create_app() -> Flask:
    from flask.cli import NoAppException

    from sakskydd import create_app
    from sakskydd.config import ConfigError
    from sakskydd.crypto.errors import KeyRingError

    try:
        return create_app()
    except (ConfigError, KeyRingError) as exc:
        # A clear sentence instead of a traceback (e.g. `sakskydd --help` before `sakskydd init`).
        raise NoAppException(f"{exc} (run `sakskydd init` first on a new installation)") from exc


def alembic_config(database_url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def prepare_instance(settings: Settings) -> None:
    """Migrate the database and create the key file, signing key and first keys (idempotent)."""
    from sakskydd import create_app, crypto
    from sakskydd.audit.checkpoints import generate_signing_key, load_signing_key, write_public_key
    from sakskydd.crypto.providers import generate_kek_file
    from sakskydd.extensions import db

    settings.instance_path.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.instance_path, 0o700)
    if settings.kek_b64 is None and settings.kek_file is not None and not settings.kek_file.exists():
        if settings.is_production:
            raise click.ClickException(
                f"the key file {settings.kek_file} is missing; "
                "create it deliberately (see docs/key-management.md)"
            )
        generate_kek_file(settings.kek_file)
    if settings.signing_key_file is not None and not settings.signing_key_file.exists():
        generate_signing_key(settings.signing_key_file)
    public_key_file = settings.audit_public_key_file
    if settings.signing_key_file is not None and public_key_file is not None and not public_key_file.exists():
        # What the auditors' workspace trusts, so that the web process never reads the signing key.
        write_public_key(public_key_file, load_signing_key(settings.signing_key_file))
    migrate(settings.database_url)
    app = create_app(settings, load_keys=False)
    with app.app_context():
        crypto.ensure_initial_keys(db, crypto.provider_from_settings(settings))
        db.commit()
    app.extensions["sakskydd.db"].dispose()


def register_commands(app: Flask) -> None:
    """Command groups that need the application (keys, audit, users) are attached to it."""
    from sakskydd.audit.cli import audit as audit_group
    from sakskydd.crypto.cli import keys as keys_group

    for group in (audit_group, keys_group, users, operators, reminders, retention, oversight):
        if group.name not in app.cli.commands:
            app.cli.add_command(group)


@click.group(
    cls=FlaskGroup,
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def main() -> None:
    """sakskydd – säkerhetsskydd case management."""


@main.command("init", with_appcontext=False)
def init_command() -> None:
    """Create the instance folder, key file and signing key; migrate; create the first keys."""
    settings = Settings.from_env()
    prepare_instance(settings)
    click.echo(f"Instance ready at {settings.instance_path}")


@main.command("migrate", with_appcontext=False)
@click.option("--revision", default="head", show_default=True)
def migrate_command(revision: str) -> None:
    """Upgrade the database schema (Alembic)."""
    migrate(Settings.from_env().database_url, revision)


@main.command("demo")
def demo_command() -> None:
    """Load the demo organisation and one account per role (refused in production)."""
    from sakskydd.demo import DemoRefused, load_demo

    try:
        text = load_demo()
    except DemoRefused as refused:
        raise click.ClickException(str(refused)) from refused
    click.echo(text)


def default_workers(database_url: str) -> int:
    """On SQLite every request holds the database's write lock (BEGIN IMMEDIATE) from its first
    statement to the session save, so a second worker only waits for it, in SQLite's busy handler,
    and the tail latency goes from milliseconds to seconds (docs/benchmarks.md section 1)."""
    return 1 if database_url.startswith("sqlite") else 2


@main.command("serve", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Antal processer (standard: 1 med SQLite, 2 med PostgreSQL).",
)
def serve_command(host: str, port: int, workers: int | None) -> None:
    """Serve with gunicorn (no access log: URLs can carry one-time tokens)."""
    from gunicorn.app.base import BaseApplication

    if workers is None:
        workers = default_workers(Settings.from_env().database_url)

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", None)
            self.cfg.set("limit_request_line", 4094)

        def load(self) -> Flask:
            return _create_app()

    click.echo(
        f"sakskydd på http://localhost:{port}" if host == "127.0.0.1" else f"sakskydd på {host}:{port}"
    )
    _Server().run()


@main.command("backup")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Filen att skriva (standard: <instans>/backups/sakskydd-<tid>.backup).",
)
def backup_command(output: Path | None) -> None:
    """Skriv en konsistent, krypterad säkerhetskopia av databasen (docs/backup.md)."""
    from sakskydd import audit
    from sakskydd.audit import Event
    from sakskydd.audit.checkpoints import SigningKeyError, load_public_key
    from sakskydd.backup import BackupError, write_backup
    from sakskydd.crypto.providers import provider_from_settings
    from sakskydd.extensions import db, get_database

    settings = current_app.config["SAKSKYDD_SETTINGS"]
    if output is None:
        folder = Path(settings.instance_path) / "backups"
        folder.mkdir(mode=0o700, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        output = folder / f"sakskydd-{stamp}.backup"
    public_key = None
    key_file = settings.audit_public_key_file
    if key_file is not None and Path(key_file).exists():
        try:
            public_key = load_public_key(Path(key_file).read_bytes())
        except SigningKeyError as exc:
            raise click.ClickException(f"Den publika nyckeln i {key_file} kan inte läsas: {exc}") from None
    with _Progress("Säkerhetskopierar") as progress:
        try:
            result = write_backup(
                get_database().engine.url.render_as_string(hide_password=False),
                output,
                provider_from_settings(settings),
                public_key=public_key,
                progress=progress,
            )
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
    audit.record(
        Event.BACKUP_CREATED,
        detail={
            "file": result.path.name,
            "rows": result.rows,
            "tables": result.tables,
            "audit_seq": result.audit_seq,
            "bytes": result.size,
        },
    )
    db.commit()
    click.echo(
        f"Säkerhetskopian är skriven: {result.path} ({result.rows} rader i {result.tables} tabeller, "
        f"granskningsloggen till seq {result.audit_seq}, {result.size} byte). Den kräver instansens "
        "nyckelkrypteringsnyckel för att återställas."
    )


class _Progress:
    """A progress bar whose length is known only when the work has counted its rows."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __enter__(self) -> _Progress:
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=click.get_text_stream("stderr"))
            self.bar.__enter__()
        self.bar.update(done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@main.command("restore", with_appcontext=False)
@click.argument("backup_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Betrodd publik nyckel för kontrollpunkterna (standard: instansens, annars säkerhetskopians).",
)
def restore_command(backup_file: Path, public_key: Path | None) -> None:
    """Återställ en säkerhetskopia till en ny, tom databas och verifiera granskningsloggen."""
    from alembic.script import ScriptDirectory

    from sakskydd import audit, create_app
    from sakskydd.audit import Event
    from sakskydd.audit.checkpoints import SigningKeyError, load_public_key, write_public_key
    from sakskydd.audit.verify import key_fingerprint
    from sakskydd.backup import BackupError, read_header, restore_backup
    from sakskydd.crypto.errors import CryptoError
    from sakskydd.crypto.providers import provider_from_settings
    from sakskydd.extensions import db, make_engine

    settings = Settings.from_env()
    try:
        header = read_header(backup_file)
        provider = provider_from_settings(settings)
    except (BackupError, CryptoError) as exc:
        raise click.ClickException(str(exc)) from None
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    if header.revision != head:
        raise click.ClickException(
            f"säkerhetskopian har schemaversion {header.revision}, den här versionen av sakskydd {head}; "
            "återställ med samma version som gjorde den och uppgradera sedan"
        )
    key_file = public_key or settings.audit_public_key_file
    trusted = None
    if key_file is not None and Path(key_file).exists():
        try:
            trusted = load_public_key(Path(key_file).read_bytes())
        except SigningKeyError as exc:
            raise click.ClickException(f"Den publika nyckeln i {key_file} kan inte läsas: {exc}") from None
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.instance_path, 0o700)
    migrate(settings.database_url)
    try:
        result = restore_backup(
            backup_file, settings.database_url, provider, trusted_key=trusted, engine_factory=make_engine
        )
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if trusted is None and header.public_key:
        used = load_public_key(header.public_key)
        click.echo(
            "Obs: kontrollpunkterna kontrollerades mot nyckeln i säkerhetskopian, fingeravtryck "
            f"{key_fingerprint(used)}; jämför det med ett betrott värde.",
            err=True,
        )
        if settings.audit_public_key_file is not None and not settings.audit_public_key_file.exists():
            write_public_key(settings.audit_public_key_file, used)
    app = create_app(settings)
    with app.app_context():
        audit.record(
            Event.BACKUP_RESTORED,
            detail={
                "file": backup_file.name,
                "created_at": header.created_at,
                "rows": result.rows,
                "audit_seq": result.audit_seq,
            },
        )
        db.commit()
    app.extensions["sakskydd.db"].dispose()
    click.echo(
        f"Återställd: {result.rows} rader i {result.tables} tabeller från säkerhetskopian "
        f"{header.created_at}. Granskningsloggen är hel: {result.audit_seq} händelser, "
        f"{result.checkpoints} kontrollpunkter. Alla är utloggade."
    )


def _attach_static_groups() -> None:
    """Commands that need no application (an auditor's machine has no server configuration)."""
    from sakskydd.audit.cli import verify_export_command
    from sakskydd.authz.cli import policies

    main.add_command(policies)
    main.add_command(verify_export_command)


users = AppGroup("users", help="Create, disable and reset accounts from the command line.")


@users.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True)
@click.option("--email", required=True)
@click.option("--operator", "operator_name", required=True, help="The operator's exact name.")
@click.option("--admin", is_flag=True, help="Give the administrator role directly (bootstrap).")
def users_create(username: str, display_name: str, email: str, operator_name: str, admin: bool) -> None:
    """Create an account and print its one-time activation link."""
    from sakskydd import audit
    from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment
    from sakskydd.admin.services import AdminError, create_user
    from sakskydd.audit.tags import Event
    from sakskydd.extensions import db
    from sakskydd.organisations.models import Operator

    settings = current_app.config["SAKSKYDD_SETTINGS"]
    operator = db.scalar(select(Operator).where(Operator.name == operator_name))
    if operator is None:
        raise click.ClickException(f"no operator named {operator_name!r}")
    try:
        user, token = create_user(
            None,
            username=username,
            display_name=display_name,
            email=email,
            operator=operator,
            activation_hours=settings.activation_hours,
        )
    except AdminError as error:
        raise click.ClickException(str(error)) from error
    if admin:
        assignment = RoleAssignment(
            user_id=user.id, role=Role.ADMIN, operator_id=operator.id, status=AssignmentStatus.ACTIVE
        )
        db.add(assignment)
        db.flush()
        audit.record(
            Event.ROLE_GRANTED,
            target_type="role_assignment",
            target_id=str(assignment.id),
            detail={"role": "admin", "via": "cli"},
        )
    db.commit()
    with current_app.test_request_context(base_url=settings.base_url):
        from flask import url_for

        click.echo(settings.base_url + url_for("auth.activate", token=token))


operators = AppGroup("operators", help="Create operators (verksamhetsutövare) from the command line.")


@operators.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice(["kommun", "bolag"]), required=True)
@click.option("--org-number", default=None, help="Organisationsnummer, NNNNNN-NNNN.")
@click.option("--parent", "parent_name", default=None, help="For a bolag: the owning kommun's exact name.")
def operators_create(name: str, kind: str, org_number: str | None, parent_name: str | None) -> None:
    """Create an operator, e.g. the first one of a new installation (audited)."""
    from sakskydd.admin.services import AdminError, create_operator
    from sakskydd.extensions import db
    from sakskydd.organisations.models import Operator, OperatorKind

    parent = None
    if parent_name:
        parent = db.scalar(select(Operator).where(Operator.name == parent_name))
        if parent is None:
            raise click.ClickException(f"no operator named {parent_name!r}")
    try:
        operator = create_operator(
            None, name=name, kind=OperatorKind(kind), org_number=org_number, parent=parent
        )
    except AdminError as error:
        raise click.ClickException(str(error)) from error
    db.commit()
    click.echo(f"Verksamhetsutövare skapad: {operator.name} ({operator.id})")


def _load_user(username: str) -> Any:
    from sakskydd.accounts.models import User
    from sakskydd.accounts.services import normalise_username
    from sakskydd.extensions import db

    user = db.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise click.ClickException("no such user")
    return user


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable an account and end its sessions."""
    from sakskydd.admin.services import set_user_active
    from sakskydd.extensions import db

    set_user_active(None, _load_user(username), active=False)
    db.commit()
    click.echo("disabled")


@users.command("reset-mfa")
@click.argument("username")
def users_reset_mfa(username: str) -> None:
    """Remove the user's authenticator and recovery codes; they enrol again at the next login."""
    from sakskydd.admin.services import reset_mfa
    from sakskydd.extensions import db

    reset_mfa(None, _load_user(username))
    db.commit()
    click.echo("MFA reset; the user enrols again at the next login")


reminders = AppGroup(
    "reminders", help="Påminnelser om uppgifter som snart ska vara klara eller är försenade."
)


@reminders.command("run")
@click.option(
    "--dry-run", is_flag=True, help="Visa vad som skulle skickas utan att skicka eller ändra något."
)
def reminders_run(dry_run: bool) -> None:
    """Send today's reminders by e-mail; running it again the same day sends nothing new."""
    from sakskydd.notifications.reminders import send_reminders

    result = send_reminders(dry_run=dry_run)
    if dry_run:
        for planned in result.planned:
            click.echo(f"{planned.username} ({planned.user_id}): {planned.item.kind.value} {planned.stage}")
        click.echo(
            f"Torrkörning: {len(result.planned)} påminnelser till {result.users} användare skulle skickas. "
            "Inget har skickats eller ändrats."
        )
        return
    click.echo(f"Skickade {result.sent} påminnelser i {result.mails} e-postmeddelanden.")
    if result.skipped:
        click.echo(f"{result.skipped} påminnelser hade redan skickats av en samtidig körning.")
    if result.failed:
        raise click.ClickException(
            f"{result.failed} påminnelser kunde inte skickas; de skickas vid nästa körning."
        )


oversight = AppGroup("oversight", help="Säkerhetsskyddschefens sammanställning.")


@oversight.command("refresh")
def oversight_refresh() -> None:
    """Compile every stored picture that is no longer current (run it on a timer at national
    scale, with SAKSKYDD_PICTURE_MAX_AGE_SECONDS, so that views read the stored picture)."""
    from sakskydd.extensions import db
    from sakskydd.oversight.stored import refresh

    compiled, current = refresh(db, current_app.config["SAKSKYDD_SETTINGS"])
    click.echo(f"Uppdaterade {compiled} sammanställningar; {current} var redan aktuella.")


retention = AppGroup(
    "retention",
    help=(
        "Gallring: personuppgifter i avslutade säkerhetsprövningsärenden förstörs när "
        "gallringsfristen har gått ut."
    ),
)


def _cases(count: int) -> str:
    return f"{count} ärende" if count == 1 else f"{count} ärenden"


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Visa vad som skulle gallras utan att ändra något.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    hidden=True,
    help="Kör som om det vore detta datum (ÅÅÅÅ-MM-DD); för tester.",
)
def retention_run(dry_run: bool, today: Any) -> None:
    """Gallra säkerhetsprövningsärenden vars gallringsfrist har gått ut.

    Avslutade ärenden gallras SAKSKYDD_RETENTION_VETTING_CLOSED_DAYS dagar efter att de
    avslutades, ej godkända SAKSKYDD_RETENTION_VETTING_NOT_APPROVED_DAYS dagar efter beslutet.
    Namn, personnummer och uppföljningsanteckningar förstörs; ärendet finns kvar med enhet,
    säkerhetsklass, status och datum, så statistiken är oförändrad. Varje gallrat ärende får en
    händelse i granskningsloggen. Kommandot kan köras om: det som redan är gallrat hoppas över.

    SQLite: det raderade skrivs över med nollor (secure_delete) och WAL-filen töms efter
    gallringen. PostgreSQL: de gamla radversionerna finns kvar i tabellfilerna tills VACUUM har
    körts (autovacuum eller driftens egen VACUUM efter gallringen).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from sakskydd.deadlines import local_today
    from sakskydd.vetting.retention import dispose, plan_disposals

    settings = current_app.config["SAKSKYDD_SETTINGS"]
    day = today.date() if today is not None else local_today()
    if day > local_today() and settings.environment != "test":
        # Destroying personal data early cannot be undone: a future date is for the tests only.
        raise click.ClickException("--today kan inte ligga i framtiden.")
    planned = plan_disposals(day, settings)
    if dry_run:
        for item in planned:
            click.echo(
                f"{item.case_id}: {item.rule}, avslutat {item.closed_on.isoformat()}, "
                f"gallras från {item.due_on.isoformat()}"
            )
        click.echo(f"Torrkörning: {_cases(len(planned))} skulle gallras. Inget har ändrats.")
        return
    try:
        disposed = dispose(planned, day)
    except SQLAlchemyError as exc:
        # Not the message: it can carry the statement's parameters.
        raise click.ClickException(
            f"Gallringen avbröts ({type(exc).__name__}). Det som redan gallrats är sparat; "
            "kör kommandot igen."
        ) from None
    click.echo(f"{_cases(disposed)} gallrade")
    if disposed < len(planned):
        click.echo(f"{_cases(len(planned) - disposed)} hade ändrats under körningen och gallras inte nu.")


_attach_static_groups()
