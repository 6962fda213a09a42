"""Field encryption: what an encrypt and a decrypt cost, before and after 20261213160000.

Before: private.encrypt_field with pgp_sym_encrypt's default string-to-key (iterated and
salted, s2k-mode=3). After: salted without iterations (s2k-mode=1), what the migration writes.
Both run through the real private.encrypt_field and private.decrypt_field (the Vault key read
included) on the development database of `carebase up`, inside one transaction that is rolled
back: "before" re-creates the old body in that transaction, so nothing is left behind.

Each round encrypts then decrypts VALUES distinct values in one statement (no round trips);
ROUNDS alternating rounds, medians.

Usage: .venv/bin/python bench/encryption.py   (writes the Field encryption section of
bench/REPORT.md)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack.config import Settings  # noqa: E402

VALUES = 10_000
ROUNDS = 3

# The function as 20261123000200 wrote it, but for the options passed to pgp_sym_encrypt.
ENCRYPT_FIELD = """
create or replace function private.encrypt_field(plaintext text)
returns bytea
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    version integer := private.active_field_key_version();
    sealed bytea;
begin
    if plaintext is null then
        return null;
    end if;
    sealed := int2send(version::smallint)
        || extensions.pgp_sym_encrypt(plaintext, private.field_key(version), '{options}');
    insert into private.fresh_ciphertexts (digest) values (extensions.digest(sealed, 'sha256'));
    return sealed;
end;
$$
"""
MODES = {"before": "cipher-algo=aes256", "after": "cipher-algo=aes256, s2k-mode=1"}


def round_trip_seconds(conn: psycopg.Connection, options: str) -> float:
    conn.execute(ENCRYPT_FIELD.replace("{options}", options))
    started = time.perf_counter()
    (same,) = conn.execute(
        "select count(*) filter (where private.decrypt_field(private.encrypt_field(v)) = v)"
        " from (select '{\"medication\": \"Amlodipine ' || n || ' mg\"}' as v"
        " from generate_series(1, %s) as n) as s",
        (VALUES,),
    ).fetchone()
    elapsed = time.perf_counter() - started
    assert same == VALUES, f"only {same} of {VALUES} values came back"
    return elapsed


def pgcrypto_seconds(conn: psycopg.Connection, options: str) -> float:
    """pgcrypto alone: the same round trip with the key read once."""
    started = time.perf_counter()
    (same,) = conn.execute(
        "with k as (select private.field_key(private.active_field_key_version()) as key)"
        " select count(*) filter (where extensions.pgp_sym_decrypt("
        "extensions.pgp_sym_encrypt(v, k.key, %s), k.key) = v)"
        " from k, (select 'value ' || n as v from generate_series(1, %s) as n) as s",
        (options, VALUES),
    ).fetchone()
    elapsed = time.perf_counter() - started
    assert same == VALUES
    return elapsed


def main() -> None:
    settings = Settings.from_env()
    timings: dict[str, list[float]] = {mode: [] for mode in MODES}
    raw: dict[str, list[float]] = {mode: [] for mode in MODES}
    with psycopg.connect(settings.dsn(settings.admin_user)) as conn:
        for _ in range(ROUNDS):
            for mode, options in MODES.items():
                timings[mode].append(round_trip_seconds(conn, options))
                raw[mode].append(pgcrypto_seconds(conn, options))
        conn.rollback()
    before, after = (statistics.median(timings[mode]) for mode in MODES)
    raw_before, raw_after = (statistics.median(raw[mode]) for mode in MODES)
    section = (
        "## Field encryption\n\n"
        "`bench/encryption.py`: private.encrypt_field then private.decrypt_field of "
        f"{VALUES:,} distinct values in one statement on the development database (Vault key "
        f"read included), {ROUNDS} alternating rounds, medians; rolled back.\n\n"
        "| string-to-key | encrypt + decrypt of 10,000 values | per value | values/s |\n"
        "|---|---|---|---|\n"
        f"| before: default, iterated and salted (s2k-mode=3) | {before:.2f} s | "
        f"{before / VALUES * 1e3:.3f} ms | {VALUES / before:,.0f} |\n"
        f"| after 20261213160000: salted (s2k-mode=1) | {after:.2f} s | "
        f"{after / VALUES * 1e3:.3f} ms | {VALUES / after:,.0f} |\n"
        f"| pgcrypto alone (key read once), default | {raw_before:.2f} s | "
        f"{raw_before / VALUES * 1e3:.3f} ms | {VALUES / raw_before:,.0f} |\n"
        f"| pgcrypto alone (key read once), s2k-mode=1 | {raw_after:.2f} s | "
        f"{raw_after / VALUES * 1e3:.3f} ms | {VALUES / raw_after:,.0f} |\n\n"
        f"Through the functions {before / after:.1f}x faster; the S2K step itself "
        f"{raw_before / raw_after:.0f}x. What remains is pgcrypto's own work and reading the "
        "key from Vault (private.field_key, once per encrypt and once per decrypt). The keys are "
        "random 32-byte secrets, so the iterations (made to slow down guessing a passphrase) "
        "protected nothing; values written before still decrypt (the mode is in each message: "
        "supabase/tests/encryption_s2k.test.sql).\n"
    )
    rewrite_section(section)
    print(section)


if __name__ == "__main__":
    main()
