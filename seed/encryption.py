"""Ciphertexts made by private.encrypt_field on side connections, while the load goes on.

pgp_sym_encrypt takes about a millisecond a value (its key derivation), the largest single cost
of `large`. Side connections call the project's own private.encrypt_field (the active Vault key,
the same format as every RPC writes) on batches of clear text and roll back (the record of
fresh ciphertexts goes with them); the loader then stores each ciphertext once, in the row it
was made for.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from seed import connection

BATCH = 4000


class Encryptor:
    def __init__(self, database_url: str, workers: int = 2) -> None:
        self.database_url = database_url
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encrypt")

    def _encrypt(self, values: list[str]) -> list[bytes]:
        with connection.connect(self.database_url) as conn, conn.cursor() as cur:
            cur.execute("create temp table clear (n integer, value text)")
            with cur.copy("copy clear (n, value) from stdin") as copy:
                for n, value in enumerate(values):
                    copy.write_row((n, value))
            cur.execute("select private.encrypt_field(value) from clear order by n")
            sealed = [row[0] for row in cur.fetchall()]
            conn.rollback()
        return sealed

    def submit(self, values: list[str | None]) -> list[Future]:
        """Batches of ciphertexts for `values` (None stays None), in order."""
        return [
            self.pool.submit(self._encrypt_with_nulls, values[i : i + BATCH])
            for i in range(0, len(values), BATCH)
        ]

    def _encrypt_with_nulls(self, values: list[str | None]) -> list[bytes | None]:
        present = [v for v in values if v is not None]
        sealed = iter(self._encrypt(present)) if present else iter(())
        return [None if v is None else next(sealed) for v in values]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
