"""`sakskydd keys …`: status, add, promote, reencrypt, disable, rewrap (docs/key-management.md)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from sakskydd.crypto import services
from sakskydd.crypto.errors import CryptoError
from sakskydd.crypto.keyring import KeyRing
from sakskydd.crypto.providers import FileKEKProvider, KEKProvider, generate_kek_file, provider_from_settings
from sakskydd.extensions import db

keys = AppGroup("keys", help="Hantera krypteringsnycklar (datanycklar och nyckelkrypteringsnyckel).")


def _provider() -> KEKProvider:
    try:
        return provider_from_settings(current_app.config["SAKSKYDD_SETTINGS"])
    except CryptoError as exc:
        raise click.ClickException(f"Nyckelkrypteringsnyckeln kan inte läsas: {exc}") from None


def _keyring(provider: KEKProvider) -> KeyRing:
    # Always fresh from the database: another process may have added or promoted a key.
    try:
        return KeyRing.load(db, provider)
    except CryptoError as exc:
        db.rollback()
        raise click.ClickException(f"Nyckelringen kan inte laddas: {exc}") from None


def _fail(exc: Exception) -> click.ClickException:
    db.rollback()
    return click.ClickException(f"Åtgärden avbröts: {exc}")


@keys.command("status")
def status_command() -> None:
    """Visa nycklarna och hur många krypterade värden som använder varje datanyckel."""
    rows = services.key_status(db)
    db.rollback()
    click.echo(f"{'nyckel-id':>10}  {'syfte':<12} {'status':<10} {'värden':>8}  KEK")
    for row in rows:
        click.echo(f"{row.id:>10}  {row.purpose:<12} {row.status:<10} {row.rows:>8}  {row.kek_id}")


@keys.command("add")
def add_command() -> None:
    """Skapa en ny datanyckel (aktiverad, inte primär)."""
    provider = _provider()
    keyring = _keyring(provider)
    try:
        key = services.add_key(db, provider, keyring)
        db.commit()
    except CryptoError as exc:
        raise _fail(exc) from None
    click.echo(f"Ny datanyckel {key.id} skapad. Starta om applikationen innan den görs primär.")


@keys.command("promote")
@click.argument("key_id", type=int)
def promote_command(key_id: int) -> None:
    """Gör en aktiverad datanyckel primär (nya värden krypteras med den)."""
    keyring = _keyring(_provider())
    try:
        services.promote_key(db, keyring, key_id)
        db.commit()
    except CryptoError as exc:
        raise _fail(exc) from None
    click.echo(f"Datanyckel {key_id} är nu primär. Starta om applikationen och kör sedan `keys reencrypt`.")


@keys.command("reencrypt")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1))
def reencrypt_command(batch_size: int) -> None:
    """Kryptera om alla värden med den primära nyckeln (i omgångar; kan avbrytas och köras igen)."""
    keyring = _keyring(_provider())
    total = services.count_pending(db, keyring)
    db.rollback()
    with click.progressbar(length=total, label="Omkryptering") as bar:
        result = services.reencrypt(db, keyring, batch_size, progress=bar.update)
    click.echo(f"{result.rows} värden omkrypterade med nyckel {keyring.primary_id}.")
    if result.failed:
        for table, column, row_id in result.failed:
            click.echo(f"Kunde inte dekrypteras: {table}.{column} rad {row_id}", err=True)
        raise click.ClickException(
            f"{len(result.failed)} värden kunde inte dekrypteras (händelserna är loggade)."
        )


@keys.command("disable")
@click.argument("key_id", type=int)
def disable_command(key_id: int) -> None:
    """Inaktivera en datanyckel som inget värde längre använder."""
    keyring = _keyring(_provider())
    try:
        services.disable_key(db, keyring, key_id)
        db.commit()
    except CryptoError as exc:
        raise _fail(exc) from None
    click.echo(f"Datanyckel {key_id} är inaktiverad.")


@keys.command("rewrap")
@click.option(
    "--new-kek-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fil med den nya nyckelkrypteringsnyckeln (skapas med läge 0600 om den saknas).",
)
def rewrap_command(new_kek_file: Path) -> None:
    """Byt nyckelkrypteringsnyckel: alla nycklar förpackas om, data rörs inte."""
    old_provider = _provider()
    keyring = _keyring(old_provider)
    if not new_kek_file.exists():
        generate_kek_file(new_kek_file)
        click.echo(f"Ny nyckelkrypteringsnyckel skapad i {new_kek_file}.")
    try:
        new_provider = FileKEKProvider(new_kek_file)
        count = services.rewrap(db, old_provider, new_provider, keyring)
        db.commit()
    except CryptoError as exc:
        raise _fail(exc) from None
    click.echo(
        f"{count} nycklar förpackade med KEK {new_provider.kek_id}. "
        f"Peka SAKSKYDD_KEK_FILE på {new_kek_file} och starta om; förstör sedan den gamla filen."
    )
