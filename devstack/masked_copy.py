"""`carebase db masked-copy`: a copy of the database for non-production use in which every
personal value is replaced (README, "Backups, retention, masked copies"; seed 002, "data masking
in non-production environments").

The copy is made on this machine, never in the source database: the source backup (a folder of
`carebase db backup`, or a fresh backup of this stack's database) is restored into a scratch
database of the local cluster, masked there, dumped as a backup folder (restore it anywhere with
`carebase db restore`), and the scratch database is dropped.

What is replaced is what private.personal_data_columns classifies (a pgTAP test keeps every
column that looks personal classified), in every table, in JSON documents (by key and shape),
in the audit trail's old and new values (as the columns they belong to) and inside the
encrypted columns (decrypted with the source's keys, masked, and encrypted again under new
keys: the copy holds neither the source's Vault root key nor its field or blind-index keys).
Fakes come from HMAC-SHA256 under a masking key (sql/masking/masking.sql): consistent (one
value, one fake, across tables), distinct where the originals are, never an original value, and
not reversible without the key, which is random per copy unless --key-file names one (then two
copies agree) and is never stored in the copy. Ids are kept, so every foreign key holds. Login
credentials (password hashes, tokens, MFA secrets) are replaced by values nothing verifies
against, and the audit chain is rebuilt over the masked entries so that it verifies.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import secrets
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from devstack import backup, postgres
from devstack.config import Settings
from devstack.errors import DevstackError
from devstack.migrate import run_file

MASKING_SQL = Path(__file__).resolve().parent.parent / "sql" / "masking" / "masking.sql"

# What each classified column is, with what its values need to be read and written.
COLUMNS = """
select
    format('%s.%s', n.nspname, c.relname), p.column_name::text, p.kind,
    pg_catalog.format_type(a.atttypid, a.atttypmod),
    exists (
        select from private.encrypted_columns as e
        where e.table_name = p.table_name and e.column_name = p.column_name
    )
from private.personal_data_columns as p
join pg_catalog.pg_attribute as a on a.attrelid = p.table_name and a.attname = p.column_name
join pg_catalog.pg_class as c on c.oid = p.table_name
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
where p.kind not in ('none', 'derived') and a.attgenerated = ''
order by 1, 2
"""

# The audit tables whose append-only triggers (enabled ALWAYS) are off while the chain is rebuilt.
ALWAYS_TRIGGERS = """
select t.tgrelid::regclass::text, t.tgname::text
from pg_catalog.pg_trigger as t
join pg_catalog.pg_class as c on c.oid = t.tgrelid
where not t.tgisinternal and t.tgenabled = 'A' and c.relnamespace = 'audit'::regnamespace
    and c.relname <> 'pending'
"""


@dataclasses.dataclass(frozen=True)
class Column:
    table: str
    name: str
    kind: str
    type: str
    encrypted: bool

    @property
    def relation(self) -> sql.Composable:
        schema, _, table = self.table.partition(".")
        return sql.Identifier(schema, table)

    @property
    def column(self) -> sql.Identifier:
        return sql.Identifier(self.name)


def load_key(path: Path | None) -> bytes:
    """The masking key: from --key-file (base64, 32 bytes or more), else random for this copy."""
    if path is None:
        return secrets.token_bytes(32)
    try:
        key = base64.b64decode(path.read_text().strip(), validate=True)
    except (OSError, ValueError) as error:
        raise DevstackError(
            f"cannot read a base64 masking key from {path}: {error}",
            "create one with: head -c 32 /dev/urandom | base64 > masking.key",
        ) from None
    if len(key) < 32:
        raise DevstackError(f"the masking key in {path} is shorter than 32 bytes")
    return key


def _gather(conn: psycopg.Connection, column: Column) -> None:
    """Add the column's distinct original values (or their JSON leaves) to masking.map."""
    insert = sql.SQL("insert into masking.map (kind, original) {} on conflict do nothing")
    if column.encrypted:
        where = sql.SQL("c.table_name = {}::regclass and c.column_name = {}").format(
            sql.Literal(column.table), sql.Literal(column.name)
        )
        conn.execute(
            insert.format(
                sql.SQL(
                    "select distinct l.kind, masking.normalized(l.kind, l.value)"
                    " from masking.clear as c, masking.json_leaves(c.document) as l"
                    " where {} and c.document is not null"
                ).format(where)
            )
        )
        conn.execute(
            insert.format(
                sql.SQL(
                    "select distinct {kind}, masking.normalized({kind}, c.plaintext)"
                    " from masking.clear as c where {where} and c.document is null"
                    " and btrim(c.plaintext) <> ''"
                ).format(
                    kind=sql.Literal("free_text" if column.kind == "json" else column.kind),
                    where=where,
                )
            )
        )
    elif column.kind == "json":
        conn.execute(
            insert.format(
                sql.SQL(
                    "select distinct l.kind, masking.normalized(l.kind, l.value)"
                    " from {} as t, masking.json_leaves(t.{}::jsonb) as l"
                ).format(column.relation, column.column)
            )
        )
    elif column.kind == "row_values":
        conn.execute(
            insert.format(
                sql.SQL(
                    "select distinct l.kind, masking.normalized(l.kind, l.value)"
                    " from {} as t, masking.row_leaves(t.table_name, t.{}) as l"
                ).format(column.relation, column.column)
            )
        )
    else:
        conn.execute(
            insert.format(
                sql.SQL(
                    "select distinct {kind}, masking.normalized({kind}, t.{col}::text) from {rel}"
                    " as t where t.{col} is not null and btrim(t.{col}::text) <> ''"
                ).format(kind=sql.Literal(column.kind), col=column.column, rel=column.relation)
            )
        )


def _apply(conn: psycopg.Connection, column: Column) -> None:
    """Replace the column's values by their fakes (encrypted columns come later)."""
    target = sql.SQL(column.type)  # format_type() of the catalog: a type name, quoted as needed
    if column.kind == "json":
        value = sql.SQL("masking.mask_json(t.{}::jsonb)::{}").format(column.column, target)
    elif column.kind == "row_values":
        value = sql.SQL("masking.mask_row(t.table_name, t.{})").format(column.column)
    else:
        value = sql.SQL("masking.masked({}, t.{}::text)::{}").format(
            sql.Literal(column.kind), column.column, target
        )
    conn.execute(
        sql.SQL("update {rel} as t set {col} = {value} where t.{col} is not null{skip}").format(
            rel=column.relation,
            col=column.column,
            value=value,
            # Empty documents stay as they are (most status_history.details are).
            skip=sql.SQL(" and t.{}::text not in ('{{}}', '[]')").format(column.column)
            if column.kind in ("json", "row_values")
            else sql.SQL(""),
        )
    )


def _read_clear_texts(conn: psycopg.Connection, columns: list[Column]) -> None:
    conn.execute(
        "insert into masking.keys (version, passphrase)"
        " select k.version, private.field_key(k.version) from private.field_keys as k"
        " where k.state <> 'retired'"
    )
    for column in columns:
        conn.execute(
            sql.SQL(
                "insert into masking.clear (table_name, column_name, row_id, plaintext, document)"
                " select {table}::regclass, {name}, t.id, d.plaintext,"
                " masking.try_json(d.plaintext)"
                " from {rel} as t"
                " join masking.keys as k on k.version = private.field_key_version(t.{col})"
                " cross join lateral"
                " (select masking.decrypt(t.{col}, k.passphrase) as plaintext) as d"
                " where d.plaintext is not null"
            ).format(
                table=sql.Literal(column.table),
                name=sql.Literal(column.name),
                rel=column.relation,
                col=column.column,
            )
        )
    conn.execute("delete from masking.keys")


def _replace_keys(conn: psycopg.Connection) -> None:
    """New keys for everything encrypted: a new Vault root key (devstack's shim keeps it in
    _devstack), no secret of the source (field keys, blind-index key, Cal.com API keys), a new
    field key and a new blind-index key."""
    if conn.execute("select to_regclass('_devstack.vault_root_key')").fetchone()[0]:
        conn.execute(
            "update _devstack.vault_root_key set root_key = extensions.gen_random_bytes(32)"
        )
    if conn.execute("select to_regclass('private.doctor_calendar_credentials')").fetchone()[0]:
        # Each row names a Vault secret (a doctor's Cal.com API key) that does not travel.
        conn.execute("delete from private.doctor_calendar_credentials")
    conn.execute("delete from vault.secrets")
    conn.execute("delete from private.field_keys")
    conn.execute("select private.create_field_key()")
    conn.execute(
        "select vault.create_secret(encode(extensions.gen_random_bytes(32), 'base64'),"
        " 'carebase_blind_index_key',"
        " 'HMAC-SHA256 key for blind indexes of encrypted fields (exact-match lookups)')"
    )
    conn.execute(
        "insert into masking.keys (version, passphrase, active)"
        " select v, private.field_key(v), true from private.active_field_key_version() as v"
    )


def _encrypt_again(conn: psycopg.Connection, column: Column) -> None:
    kind = "free_text" if column.kind == "json" else column.kind
    conn.execute(
        sql.SQL(
            "update {rel} as t set {col} = masking.encrypt("
            " case when c.document is not null then masking.mask_json(c.document)::text"
            " else masking.masked({kind}, c.plaintext) end)"
            " from masking.clear as c"
            " where c.table_name = {table}::regclass and c.column_name = {name} and c.row_id = t.id"
        ).format(
            rel=column.relation,
            col=column.column,
            kind=sql.Literal(kind),
            table=sql.Literal(column.table),
            name=sql.Literal(column.name),
        )
    )
    if (column.table, column.name) == ("public.patient_identifiers", "value_encrypted"):
        # Its derived columns follow the masked number, under the new blind-index key.
        conn.execute(
            "update public.patient_identifiers as t set"
            " blind_index = private.blind_index(t.kind::text, m.number), last4 = right(m.number, 4)"
            " from (select c.row_id, masking.masked('national_id', c.plaintext) as number"
            " from masking.clear as c where c.table_name = 'public.patient_identifiers'::regclass"
            " and c.column_name = 'value_encrypted') as m where m.row_id = t.id"
        )


def mask(settings: Settings, key: bytes) -> dict[str, int]:
    """Mask settings' database in place (a scratch copy). Returns what was replaced, by kind."""
    with psycopg.connect(settings.dsn(settings.admin_user), autocommit=True) as conn:
        conn.execute("set datestyle = 'ISO, YMD'")
        if (
            conn.execute("select to_regclass('private.personal_data_columns')").fetchone()[0]
            is None
        ):
            raise DevstackError(
                "this database has no private.personal_data_columns: nothing says which columns"
                " are personal, so nothing would be masked",
                "back up a database migrated to 20261209110000 or later",
            )
        with conn.transaction():
            run_file(conn, MASKING_SQL, "sql/masking/masking.sql failed in the scratch database")
            conn.execute("insert into masking.secret (key) values (%s)", (key,))
        columns = [Column(*row) for row in conn.execute(COLUMNS).fetchall()]
        with conn.transaction():
            _read_clear_texts(conn, [c for c in columns if c.encrypted])
            for column in columns:
                _gather(conn, column)
            conn.execute("select masking.draw()")
        replaced = dict(
            conn.execute("select kind, count(*) from masking.map group by kind").fetchall()
        )
        triggers = conn.execute(ALWAYS_TRIGGERS).fetchall()
        with conn.transaction():
            # Replica mode: no row trigger (audit, updated_at, guards) sees the masking.
            conn.execute("set local session_replication_role = replica")
            for table, trigger in triggers:
                conn.execute(
                    sql.SQL("alter table {} disable trigger {}").format(
                        sql.SQL(table), sql.Identifier(trigger)
                    )
                )
            for column in columns:
                if not column.encrypted:
                    _apply(conn, column)
            _replace_keys(conn)
            for column in columns:
                if column.encrypted:
                    _encrypt_again(conn, column)
            conn.execute("select masking.rechain()")
            for table, trigger in triggers:
                conn.execute(
                    sql.SQL("alter table {} enable always trigger {}").format(
                        sql.SQL(table), sql.Identifier(trigger)
                    )
                )
            conn.execute("truncate private.fresh_ciphertexts")
            conn.execute("drop schema masking cascade")
    return replaced


def _strip_passwords(globals_sql: str) -> str:
    """The source's roles without their password hashes (restore sets the local ones)."""
    return re.sub(r" PASSWORD '[^']*'", "", globals_sql)


def masked_copy(
    settings: Settings, source: Path | None, folder: Path, key_file: Path | None
) -> tuple[backup.Manifest, dict[str, int]]:
    """Write a masked copy of `source` (default: a fresh backup of settings' database) to
    `folder`, a backup folder. The masking runs in a throw-away cluster (its own data directory
    and port, deleted afterwards), so that no clear value it read stays behind in a cluster
    anyone keeps, not even in its WAL."""
    key = load_key(key_file)
    backup.empty_folder(folder)
    folder.rmdir()  # backup() creates it again, once the copy is ready
    # /var/tmp: reachable by the postgres OS user, which runs the server when this runs as root.
    with tempfile.TemporaryDirectory(prefix="carebase-mask-", dir="/var/tmp") as scratch:
        Path(scratch).chmod(0o755)
        if source is None:
            source = Path(scratch) / "source"
            backup.backup(settings, source)
        manifest = backup.Manifest.read(source)
        backup.check_files(source, manifest)
        work = dataclasses.replace(
            settings,
            db_dir_override=Path(scratch) / "cluster",
            db_port=postgres.free_port(settings.db_host),
            db_name="postgres",
        )
        try:
            postgres.start(work)
            backup.load(work, source, manifest, replace=False, jobs=2)
            replaced = mask(work, key)
            copy = backup.backup(work, folder, anchors=Path(scratch) / "no-anchors")
        finally:
            postgres.destroy(work)
    (folder / backup.GLOBALS).write_text(_strip_passwords((source / backup.GLOBALS).read_text()))
    copy.role_passwords = False
    copy.masked = True
    copy.source = f"masked copy of {manifest.source} ({manifest.created_at})"
    copy.files = {name: backup.sha256_of(folder / name) for name in (backup.DUMP, backup.GLOBALS)}
    copy.write(folder)
    return copy, replaced
