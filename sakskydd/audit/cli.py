"""`sakskydd audit …`: verify, checkpoint, export (docs/audit.md)."""

from __future__ import annotations

from multiprocessing.pool import Pool
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import current_app
from flask.cli import AppGroup

from sakskydd.audit import Event, record
from sakskydd.audit.checkpoints import (
    CHECKPOINT_FILE_NAME,
    AuditChainBroken,
    SigningKeyError,
    append_checkpoint_file,
    checkpoint_due,
    load_public_key,
    load_signing_key,
    make_checkpoint,
    read_checkpoint_file,
    write_public_key,
)
from sakskydd.audit.export import ExportFormatError, verify_export, write_export
from sakskydd.audit.range_export import RangeFormatError, RangeResult, is_range_export, verify_range_export
from sakskydd.audit.verify import (
    Checkpoint,
    VerifyResult,
    key_fingerprint,
    verification_pool,
    verify_database,
)
from sakskydd.crypto.errors import CryptoError
from sakskydd.crypto.keyring import KeyRing
from sakskydd.crypto.providers import provider_from_settings
from sakskydd.extensions import db, get_database

audit = AppGroup("audit", help="Granskningsloggen: verifiera, signera kontrollpunkter, exportera.")

JOBS_OPTION = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Antal processer som verifierar parallellt (standard: antalet processorer).",
)


def _settings():  # type: ignore[no-untyped-def]
    return current_app.config["SAKSKYDD_SETTINGS"]


def _keyring() -> KeyRing:
    try:
        return KeyRing.load(db, provider_from_settings(_settings()))
    except CryptoError as exc:
        db.rollback()
        raise click.ClickException(f"Nyckelringen kan inte laddas: {exc}") from None


def _signing_key_path() -> Path:
    path = _settings().signing_key_file
    if path is None:
        raise click.ClickException("Ingen signeringsnyckel är konfigurerad (SAKSKYDD_SIGNING_KEY_FILE).")
    return Path(path)


def _checkpoint_file() -> Path:
    return Path(_settings().instance_path) / CHECKPOINT_FILE_NAME


def _public_key_from_file(path: Path) -> Ed25519PublicKey:
    try:
        return load_public_key(path.read_bytes())
    except (OSError, SigningKeyError) as exc:
        raise click.ClickException(f"Den publika nyckeln i {path} kan inte läsas: {exc}") from None


def _report(result: VerifyResult) -> None:
    if result.ok:
        click.echo(
            f"Granskningsloggen är hel: {result.count} händelser, {result.checkpoints} kontrollpunkter, "
            f"huvud {result.head_hash.hex()}."
        )
        return
    click.echo(f"Granskningsloggen är bruten vid seq {result.first_bad_seq}: {result.reason}", err=True)
    raise SystemExit(1)


@audit.command("verify")
@click.option(
    "--export",
    "export_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verifiera en exportfil fristående i stället för databasen.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Betrodd publik nyckel (PEM) för kontrollpunkternas signaturer.",
)
@click.option(
    "--checkpoints",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Kontrollpunkter sparade utanför databasen (JSON Lines).",
)
@JOBS_OPTION
def verify_command(
    export_file: Path | None, public_key: Path | None, checkpoints: Path | None, jobs: int | None
) -> None:
    """Kontrollera kedjan, MAC och kontrollpunkter; anger första felaktiga seq."""
    # The worker processes are forked first, while no database connection is open (verify.py).
    get_database().dispose()
    with verification_pool(jobs) as pool:
        _verify(export_file, public_key, checkpoints, pool)


def _verify(
    export_file: Path | None, public_key: Path | None, checkpoints: Path | None, pool: Pool | None
) -> None:
    trusted = _public_key_from_file(public_key) if public_key is not None else None
    extra: list[Checkpoint] = []
    try:
        if checkpoints is not None:
            extra = read_checkpoint_file(checkpoints)
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"Kontrollpunktsfilen kan inte läsas: {exc}") from None
    if export_file is not None:
        if extra:
            click.echo("Obs: --checkpoints används bara mot databasen.", err=True)
        verify_export_file(export_file, trusted, pool)
        return
    keyring = _keyring()
    if trusted is None:
        path = _signing_key_path()
        if path.exists():
            try:
                trusted = load_signing_key(path).public_key()
            except SigningKeyError as exc:
                raise click.ClickException(f"Signeringsnyckeln kan inte läsas: {exc}") from None
    if checkpoints is None and _checkpoint_file().exists():
        extra = read_checkpoint_file(_checkpoint_file())
    try:
        result = verify_database(
            db, mac_key=keyring.audit_mac_key, public_key=trusted, extra_checkpoints=extra, pool=pool
        )
    finally:
        db.rollback()
    _report(result)


def verify_export_file(export_file: Path, trusted: Ed25519PublicKey | None, pool: Pool | None) -> None:
    """Verify an export file (whole trail or an auditor's range) and report; needs no database."""
    if is_range_export(export_file):
        _verify_range(export_file, trusted)
        return
    try:
        result, _header, used_key = verify_export(export_file, public_key=trusted, pool=pool)
    except ExportFormatError as exc:
        click.echo(f"Exportfilen är felaktig: {exc}", err=True)
        raise SystemExit(1) from None
    if trusted is None and used_key is not None:
        _fingerprint_note(used_key)
    _report(result)


def _fingerprint_note(used_key: Ed25519PublicKey) -> None:
    click.echo(
        "Obs: signaturerna kontrollerades mot nyckeln i exportfilen, fingeravtryck "
        f"{key_fingerprint(used_key)}; jämför det med ett betrott värde eller ange --public-key.",
        err=True,
    )


def _verify_range(export_file: Path, trusted: Ed25519PublicKey | None) -> None:
    """A range export (an auditor's selection, sakskydd/audit/range_export.py)."""
    try:
        outcome: RangeResult = verify_range_export(export_file, public_key=trusted)
    except RangeFormatError as exc:
        click.echo(f"Exportfilen är felaktig: {exc}", err=True)
        raise SystemExit(1) from None
    header = outcome.header
    click.echo(
        f"Intervall {header.first_seq}–{header.last_seq}: {outcome.full} händelser i klartext, "
        f"{outcome.sealed} förseglade (bara hash)."
    )
    if trusted is None and outcome.public_key is not None:
        _fingerprint_note(outcome.public_key)
    if outcome.result.ok and outcome.anchor is None:
        click.echo(
            "Obs: ingen signerad kontrollpunkt ligger inom intervallet; kedjan är hel men vilar på "
            "serverns uppgift om hashen före intervallet.",
            err=True,
        )
    elif outcome.result.ok:
        click.echo(f"Förankrad i signerad kontrollpunkt {outcome.anchor}.")
    _report(outcome.result)


@click.command("verify-export")
@click.argument("export_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Betrodd publik nyckel (PEM) för kontrollpunkternas signaturer.",
)
@JOBS_OPTION
def verify_export_command(export_file: Path, public_key: Path | None, jobs: int | None) -> None:
    """Verifiera en exportfil av granskningsloggen fristående (utan server, databas eller nycklar)."""
    trusted = _public_key_from_file(public_key) if public_key is not None else None
    with verification_pool(jobs) as pool:
        verify_export_file(export_file, trusted, pool)


@audit.command("public-key")
def public_key_command() -> None:
    """Skriv den publika nyckeln (för webbens verifiering och för revisorer) och visa fingeravtrycket."""
    path = _settings().audit_public_key_file
    if path is None:
        raise click.ClickException("Ingen fil för den publika nyckeln är konfigurerad.")
    try:
        key = load_signing_key(_signing_key_path())
        written = write_public_key(path, key)
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'Skrev' if written else 'Oförändrad:'} {path}")
    click.echo(f"Fingeravtryck (SHA-256): {key_fingerprint(key.public_key())}")


@audit.command("checkpoint")
@click.option(
    "--if-due",
    is_flag=True,
    help="Bara om minst SAKSKYDD_AUDIT_CHECKPOINT_EVERY händelser tillkommit sedan förra.",
)
@JOBS_OPTION
def checkpoint_command(if_due: bool, jobs: int | None) -> None:
    """Verifiera kedjan och signera en kontrollpunkt (sparas även i instance/audit-checkpoints.jsonl)."""
    try:
        signing_key = load_signing_key(_signing_key_path())
    except SigningKeyError as exc:
        raise click.ClickException(f"Signeringsnyckeln kan inte läsas: {exc}") from None
    keyring = _keyring()
    if if_due and not checkpoint_due(db, _settings().audit_checkpoint_every):
        db.rollback()
        click.echo("Ingen kontrollpunkt behövs ännu.")
        return
    db.rollback()
    # As for verify: the workers are forked while no database connection is open.
    get_database().dispose()
    try:
        with verification_pool(jobs) as pool:
            checkpoint = make_checkpoint(db, signing_key, keyring=keyring, pool=pool)
            db.commit()
    except AuditChainBroken as exc:
        db.rollback()
        result = exc.result
        click.echo(
            "Ingen kontrollpunkt: granskningsloggen är bruten vid "
            f"seq {result.first_bad_seq}: {result.reason}",
            err=True,
        )
        raise SystemExit(1) from None
    except ValueError as exc:
        db.rollback()
        raise click.ClickException(f"Ingen kontrollpunkt: {exc}") from None
    append_checkpoint_file(_checkpoint_file(), checkpoint)
    click.echo(f"Kontrollpunkt {checkpoint.size} signerad, Merkle-rot {checkpoint.merkle_root.hex()}.")


@audit.command("export")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Fil att skriva (JSON Lines).",
)
def export_command(output: Path) -> None:
    """Exportera händelser, kontrollpunkter och publik nyckel för fristående granskning."""
    keyring = _keyring()
    path = _signing_key_path()
    public_key = None
    if path.exists():
        try:
            public_key = load_signing_key(path).public_key()
        except SigningKeyError as exc:
            raise click.ClickException(f"Signeringsnyckeln kan inte läsas: {exc}") from None
    try:
        with output.open("x", encoding="utf-8") as handle:
            header = write_export(db, handle, public_key)
    except FileExistsError:
        db.rollback()
        raise click.ClickException(f"{output} finns redan.") from None
    record(
        Event.AUDIT_EXPORTED,
        detail={"size": header.size, "head_hash": header.head_hash.hex(), "file": output.name},
        session=db,
        keyring=keyring,
    )
    db.commit()
    click.echo(f"{header.size} händelser exporterade till {output}.")
