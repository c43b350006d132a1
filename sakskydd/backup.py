"""`sakskydd backup` and `sakskydd restore`: a consistent, encrypted copy of the database.

The copy is one file (format `sakskydd-backup/v1`):

    MAGIC ‖ header length (4 bytes) ‖ header (JSON) ‖ chunk ‖ chunk ‖ … ‖ final chunk

The header is plain JSON, so that operations can tell what a file holds without keys: when it
was made, the schema revision, the row count of every table, the audit chain's head, the
public key of the checkpoints, and which key-encryption key (KEK) it needs (`kek_id`, a
fingerprint). It also holds the file's own key, random per backup, wrapped by the KEK provider:
the KEK itself is never in a backup (DESIGN.md, "Backups"), and a key service fits the same way.

The body is every row of every table read in ONE snapshot (a deferred SQLite transaction in
WAL mode, or REPEATABLE READ on PostgreSQL), so a backup taken under load is consistent and
holds up no writer. Rows are JSON Lines, compressed, cut into chunks and sealed with
AES-256-GCM; each chunk's associated data binds the header's hash, the chunk's position and
whether it is the last, so a changed, reordered, dropped or truncated chunk is refused.
Encrypted fields stay the ciphertext they are in the database (under the key ring's data keys,
which are in the copy wrapped by the KEK): restoring needs the same KEK.

Sessions (`user_session`) are left out: a restored instance starts with everyone signed out.

Restore goes into a database with no operators and no accounts (a new one, or one where only
`sakskydd init` ran): it migrates it to the same schema revision, empties it, loads every row
in one transaction, and verifies the audit chain (links, MACs, signed checkpoints) BEFORE it
commits; a broken chain or a wrong KEK leaves the database as it was. The restore is then
recorded as `backup.restored`, the first event after the restored head.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import hashlib
import json
import os
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, Enum, MetaData, Table, create_engine, event, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from sakskydd.crypto.errors import CryptoError
from sakskydd.crypto.fields import EncryptedBytes, Sealed
from sakskydd.crypto.providers import KEKProvider

FORMAT: Final = "sakskydd-backup/v1"
MAGIC: Final = b"SAKSKYDD-BACKUP\n"
# The file key is wrapped under this id: data keys have non-zero ids, so it is never one of theirs.
FILE_KEY_ID: Final = 0
CHUNK_SIZE: Final = 1 << 20
BATCH: Final = 2000
EXCLUDED_TABLES: Final = frozenset({"user_session"})
# Rows that reach a fresh database by `sakskydd init`; anything else makes it "not empty".
IDENTITY_TABLES: Final = ("operator", "user_account")
_LENGTH = struct.Struct(">I")
_MAX_HEADER = 1 << 20


class BackupError(Exception):
    """A backup that cannot be written or read; the message is a Swedish sentence for the user."""


# --- values -------------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    """A column value as JSON; anything that JSON does not carry exactly is tagged."""
    if value is None or isinstance(value, bool | int | float | str) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": value.hex}
    if isinstance(value, enum.Enum):
        return {"e": value.name}
    if isinstance(value, decimal.Decimal):
        return {"n": str(value)}
    if isinstance(value, dict | list):
        return {"j": value}
    raise BackupError(f"ett värde av typen {type(value).__name__} kan inte säkerhetskopieras")


def _decoder(column: Any) -> Callable[[Any], Any]:
    """How one column's encoded values become what the column's type binds."""
    sealed = isinstance(column.type, EncryptedBytes)
    enum_class = getattr(column.type, "enum_class", None) if isinstance(column.type, Enum) else None

    def decode(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        ((tag, raw),) = value.items()
        if tag == "b":
            data = base64.b64decode(raw)
            return Sealed(data) if sealed else data
        if tag == "t":
            return dt.datetime.fromisoformat(raw)
        if tag == "d":
            return dt.date.fromisoformat(raw)
        if tag == "u":
            return uuid.UUID(hex=raw)
        if tag == "e":
            return enum_class[raw] if enum_class is not None else raw
        if tag == "n":
            return decimal.Decimal(raw)
        if tag == "j":
            return raw
        raise BackupError(f"okänd värdetyp {tag!r} i säkerhetskopian")

    return decode


# --- the sealed stream --------------------------------------------------------------------------


def _chunk_aad(header_hash: bytes, index: int, final: bool) -> bytes:
    return b"sakskydd/backup/v1|" + header_hash + struct.pack(">Q?", index, final)


class _SealedWriter:
    """Compresses what it is given and writes it as sealed chunks."""

    def __init__(self, out: IO[bytes], key: bytes, header_hash: bytes) -> None:
        self._out, self._aead, self._hash = out, AESGCM(key), header_hash
        self._zip = zlib.compressobj(6)
        self._pending = bytearray()
        self._index = 0

    def write(self, data: bytes) -> None:
        self._pending += self._zip.compress(data)
        while len(self._pending) >= CHUNK_SIZE:
            self._seal(bytes(self._pending[:CHUNK_SIZE]), final=False)
            del self._pending[:CHUNK_SIZE]

    def close(self) -> None:
        self._pending += self._zip.flush()
        while len(self._pending) > CHUNK_SIZE:
            self._seal(bytes(self._pending[:CHUNK_SIZE]), final=False)
            del self._pending[:CHUNK_SIZE]
        self._seal(bytes(self._pending), final=True)

    def _seal(self, plain: bytes, *, final: bool) -> None:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain, _chunk_aad(self._hash, self._index, final))
        self._out.write(_LENGTH.pack(len(sealed)) + nonce + sealed)
        self._index += 1


def _open_chunks(source: IO[bytes], key: bytes, header_hash: bytes) -> Iterator[bytes]:
    """The decompressed plaintext, chunk by chunk; raises BackupError on any change."""
    aead, unzip = AESGCM(key), zlib.decompressobj()
    index = 0
    while True:
        size_bytes = source.read(_LENGTH.size)
        if len(size_bytes) < _LENGTH.size:
            raise BackupError("säkerhetskopian är avkortad (sista delen saknas)")
        (size,) = _LENGTH.unpack(size_bytes)
        nonce, sealed = source.read(12), source.read(size)
        if len(nonce) < 12 or len(sealed) < size:
            raise BackupError("säkerhetskopian är avkortad")
        plain = None
        for final in (False, True):
            try:
                plain = aead.decrypt(nonce, sealed, _chunk_aad(header_hash, index, final))
            except InvalidTag:
                continue
            break
        if plain is None:
            raise BackupError(f"säkerhetskopian är ändrad eller skadad (del {index + 1})")
        yield unzip.decompress(plain)
        index += 1
        if final:
            if source.read(1):
                raise BackupError("säkerhetskopian har data efter sista delen")
            tail = unzip.flush()
            if tail:
                yield tail
            return


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split(b"\n")
        yield from lines
    if rest:
        yield rest


# --- header -------------------------------------------------------------------------------------


@dataclass
class Header:
    created_at: str
    revision: str
    dialect: str
    kek_id: str
    wrapped_key: str
    tables: dict[str, int]
    audit_head: dict[str, Any]
    public_key: str | None = None
    format: str = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True, ensure_ascii=False).encode("utf-8")


def read_header(path: Path) -> Header:
    with path.open("rb") as source:
        return _read_header(source)[0]


def _read_header(source: IO[bytes]) -> tuple[Header, bytes]:
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError("filen är ingen säkerhetskopia från sakskydd")
    size_bytes = source.read(_LENGTH.size)
    (size,) = _LENGTH.unpack(size_bytes) if len(size_bytes) == _LENGTH.size else (0,)
    if not 0 < size <= _MAX_HEADER:
        raise BackupError("säkerhetskopians huvud är skadat")
    raw = source.read(size)
    try:
        values = json.loads(raw)
        header = Header(**values)
    except (ValueError, TypeError) as exc:
        raise BackupError("säkerhetskopians huvud är skadat") from exc
    if header.format != FORMAT:
        raise BackupError(f"okänt format {header.format!r} (denna version läser {FORMAT})")
    return header, hashlib.sha256(MAGIC + raw).digest()


# --- backup -------------------------------------------------------------------------------------


def _metadata() -> MetaData:
    import sakskydd.models  # noqa: F401  (every model registers its table)
    from sakskydd.db import Base

    return Base.metadata


def _tables() -> list[Table]:
    return [t for t in _metadata().sorted_tables if t.name not in EXCLUDED_TABLES]


def snapshot_engine(url: str) -> Engine:
    """An engine whose transactions are read snapshots: plain BEGIN on SQLite (the app's engine
    begins IMMEDIATE, which would hold writers up for the whole backup), REPEATABLE READ READ
    ONLY on PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN")

        return engine
    return create_engine(
        url,
        poolclass=NullPool,
        isolation_level="REPEATABLE READ",
        execution_options={"postgresql_readonly": True},
    )


def _revision(connection: Connection) -> str:
    try:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    except Exception as exc:  # no alembic_version: not a migrated sakskydd database
        raise BackupError("databasen saknar schemaversion (kör `sakskydd migrate`)") from exc


@dataclass(frozen=True)
class BackupResult:
    path: Path
    rows: int
    tables: int
    audit_seq: int
    size: int


def write_backup(
    url: str,
    destination: Path,
    provider: KEKProvider,
    *,
    public_key: Ed25519PublicKey | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BackupResult:
    """Write the database at `url` to `destination` (mode 0600; refuses to overwrite)."""
    from sakskydd.audit.checkpoints import public_key_pem

    tables = _tables()
    file_key = AESGCM.generate_key(bit_length=256)
    engine = snapshot_engine(url)
    partial = destination.with_name(destination.name + ".partial")
    try:
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{destination} finns redan") from None
    os.close(fd)
    rows = 0
    try:
        with engine.connect() as connection, connection.begin():
            revision = _revision(connection)  # the first read: the snapshot starts here
            counts = {
                t.name: int(connection.execute(select(func.count()).select_from(t)).scalar_one())
                for t in tables
            }
            total = sum(counts.values())
            head = connection.execute(text("SELECT seq, entry_hash FROM audit_head WHERE id = 1")).first()
            header = Header(
                created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                revision=revision,
                dialect=engine.dialect.name,
                kek_id=provider.kek_id,
                wrapped_key=base64.b64encode(provider.wrap(FILE_KEY_ID, file_key)).decode("ascii"),
                tables=counts,
                audit_head={"seq": int(head[0]), "hash": bytes(head[1]).hex()}
                if head
                else {"seq": 0, "hash": ""},
                public_key=public_key_pem(public_key) if public_key is not None else None,
            )
            raw = header.to_bytes()
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC + _LENGTH.pack(len(raw)) + raw)
                sealed = _SealedWriter(out, file_key, hashlib.sha256(MAGIC + raw).digest())
                for table in tables:
                    columns = [c.name for c in table.columns]
                    sealed.write(json.dumps({"table": table.name, "columns": columns}).encode() + b"\n")
                    order = list(table.primary_key.columns) or list(table.columns)
                    result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(
                        select(table).order_by(*order)
                    )
                    written = 0
                    for row in result:
                        sealed.write(
                            json.dumps([_encode(v) for v in row], ensure_ascii=False).encode() + b"\n"
                        )
                        written += 1
                        if progress is not None and written % BATCH == 0:
                            progress(BATCH, total)
                    if progress is not None:
                        progress(written % BATCH, total)
                    if written != counts[table.name]:  # cannot happen inside one snapshot
                        raise BackupError(f"tabellen {table.name} ändrades under säkerhetskopieringen")
                    rows += written
                sealed.close()
                out.flush()
                os.fsync(out.fileno())
        os.replace(partial, destination)
    except BaseException:
        for leftover in (partial, destination):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    return BackupResult(destination, rows, len(tables), header.audit_head["seq"], destination.stat().st_size)


# --- restore ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreResult:
    rows: int
    tables: int
    audit_seq: int
    checkpoints: int
    header: Header


def _file_key(header: Header, provider: KEKProvider) -> bytes:
    if header.kek_id != provider.kek_id:
        raise BackupError(
            f"säkerhetskopian kräver nyckelkrypteringsnyckeln {header.kek_id}, men instansen har "
            f"{provider.kek_id}; återställ med samma nyckel som användes vid säkerhetskopieringen"
        )
    try:
        return provider.unwrap(FILE_KEY_ID, base64.b64decode(header.wrapped_key))
    except (CryptoError, ValueError) as exc:
        raise BackupError("säkerhetskopians nyckel kan inte packas upp med instansens nyckel") from exc


def _refuse_unless_empty(connection: Connection) -> None:
    from sqlalchemy import inspect

    present = set(inspect(connection).get_table_names())
    for name in IDENTITY_TABLES:
        if name in present and connection.execute(text(f"SELECT 1 FROM {name} LIMIT 1")).first():  # noqa: S608
            raise BackupError(
                "databasen innehåller redan verksamhetsutövare eller konton; "
                "återställ till en ny, tom databas"
            )


def _self_references(table: Table) -> list[str]:
    """The columns of a table that point at the table itself (operator.parent_id, …)."""
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]


def _parents_first(rows: list[dict[str, Any]], references: list[str]) -> list[dict[str, Any]]:
    """Rows ordered so that a row comes after every row of the same table it points at: a
    foreign key on PostgreSQL is checked at the end of each statement, not of the transaction."""
    by_id = {row["id"]: row for row in rows}
    placed: set[Any] = set()
    ordered: list[dict[str, Any]] = []
    for row in rows:
        chain = []
        current: dict[str, Any] | None = row
        while current is not None and current["id"] not in placed:
            chain.append(current)
            placed.add(current["id"])  # also stops a cycle
            parent_ids = [current[name] for name in references if current[name] in by_id]
            current = next((by_id[p] for p in parent_ids if p not in placed), None)
        ordered.extend(reversed(chain))
    return ordered


def _load_rows(connection: Connection, lines: Iterator[bytes], expected: dict[str, int]) -> int:
    """Insert every row of the stream; the table headers must follow the schema's tables."""
    by_name = {t.name: t for t in _tables()}
    table: Table | None = None
    decoders: list[Callable[[Any], Any]] = []
    names: list[str] = []
    references: list[str] = []
    batch: list[dict[str, Any]] = []
    counts: dict[str, int] = {}

    def flush(*, end_of_table: bool = False) -> None:
        if table is None or not batch or (references and not end_of_table):
            return  # a self-referencing table is inserted whole, parents first
        rows = _parents_first(batch, references) if references else batch
        for start in range(0, len(rows), BATCH):
            connection.execute(insert(table), rows[start : start + BATCH])
        counts[table.name] = counts.get(table.name, 0) + len(rows)
        batch.clear()

    for line in lines:
        item = json.loads(line)
        if isinstance(item, dict):
            flush(end_of_table=True)
            table = by_name.get(item.get("table", ""))
            if table is None:
                raise BackupError(f"säkerhetskopian har tabellen {item.get('table')!r} som schemat saknar")
            names = list(item["columns"])
            if names != [c.name for c in table.columns]:
                raise BackupError(f"kolumnerna i {table.name} stämmer inte med schemat")
            decoders = [_decoder(table.c[name]) for name in names]
            references = _self_references(table)
            counts.setdefault(table.name, 0)
            continue
        if table is None:
            raise BackupError("säkerhetskopian är skadad (rad före tabell)")
        batch.append({name: decode(value) for name, decode, value in zip(names, decoders, item, strict=True)})
        if len(batch) >= BATCH:
            flush()
    flush(end_of_table=True)
    if counts != expected:
        raise BackupError("säkerhetskopian är ofullständig: antalet rader stämmer inte med huvudet")
    return sum(counts.values())


def _empty_tables(connection: Connection) -> None:
    """Remove what `sakskydd init` and the migrations put in, children first. The append-only
    triggers and the asset count triggers are off for this transaction (restore_triggers puts
    them back): the kept counts are loaded from the backup, read in the same snapshot as the
    assets they count."""
    from sakskydd.assets import counts
    from sakskydd.audit import ddl

    dialect = connection.dialect.name
    for statement in ddl.drop_statements(dialect) + counts.drop_statements(dialect, function=False):
        if "FUNCTION" not in statement:
            connection.exec_driver_sql(statement)
    for table in reversed(_metadata().sorted_tables):
        connection.execute(table.delete())


def _restore_triggers(connection: Connection) -> None:
    from sakskydd.assets import counts
    from sakskydd.audit import ddl

    dialect = connection.dialect.name
    for statement in ddl.trigger_statements(dialect) + counts.trigger_statements(dialect):
        connection.exec_driver_sql(statement)


def restore_backup(
    source_path: Path,
    url: str,
    provider: KEKProvider,
    *,
    trusted_key: Ed25519PublicKey | None = None,
    engine_factory: Callable[[str], Engine],
) -> RestoreResult:
    """Load the backup into the (empty) database at `url`, which is already migrated to the
    backup's revision; verify the audit chain before committing. Raises BackupError."""
    from sakskydd.audit.checkpoints import load_public_key
    from sakskydd.audit.verify import verify_database
    from sakskydd.crypto.keyring import KeyRing

    with source_path.open("rb") as source:
        header, header_hash = _read_header(source)
        file_key = _file_key(header, provider)
        engine = engine_factory(url)
        try:
            with engine.connect() as connection, connection.begin():
                _refuse_unless_empty(connection)
                revision = _revision(connection)
                if revision != header.revision:
                    raise BackupError(
                        f"säkerhetskopian har schemaversion {header.revision}, databasen {revision}; "
                        "återställ med samma version av sakskydd som gjorde den"
                    )
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
                _empty_tables(connection)
                rows = _load_rows(
                    connection, _lines(_open_chunks(source, file_key, header_hash)), header.tables
                )
                _restore_triggers(connection)
                session = Session(bind=connection)
                keyring = KeyRing.load(session, provider)
                public = trusted_key
                if public is None and header.public_key:
                    public = load_public_key(header.public_key)
                result = verify_database(session, mac_key=keyring.audit_mac_key, public_key=public)
                if not result.ok:  # leaving the block rolls everything back
                    raise BackupError(
                        f"granskningsloggen i säkerhetskopian är bruten vid seq {result.first_bad_seq}: "
                        f"{result.reason}; inget är återställt"
                    )
                if result.count != header.audit_head["seq"]:
                    raise BackupError("granskningsloggens längd stämmer inte med säkerhetskopians huvud")
        finally:
            engine.dispose()
    return RestoreResult(rows, len(header.tables), result.count, result.checkpoints, header)
