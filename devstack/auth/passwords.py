"""Passwords: the configured strength policy, and bcrypt hashes made and checked by the
database's pgcrypto (`extensions.crypt` / `gen_salt('bf')`), as GoTrue stores them."""

from __future__ import annotations

import string

from psycopg import AsyncConnection

from devstack.auth.auth_config import AuthConfig
from devstack.auth.errors import AuthError

# GoTrue's bcrypt cost.
BCRYPT_COST = 10

# The character sets of each `password_requirements` value, as GoTrue lists them.
_SYMBOLS = "!@#$%^&*()_+-=[]{};'\\:\"|<>?,./`~"
_REQUIREMENTS = {
    "": [],
    "letters_digits": [string.ascii_letters, string.digits],
    "lower_upper_letters_digits": [string.ascii_lowercase, string.ascii_uppercase, string.digits],
    "lower_upper_letters_digits_symbols": [
        string.ascii_lowercase,
        string.ascii_uppercase,
        string.digits,
        _SYMBOLS,
    ],
}


def check_strength(config: AuthConfig, password: str) -> None:
    """Raise 422 weak_password, naming each reason ("length", "characters"), when the
    password breaks the policy."""
    reasons: list[str] = []
    messages: list[str] = []
    if len(password) < config.minimum_password_length:
        reasons.append("length")
        messages.append(f"Password should be at least {config.minimum_password_length} characters.")
    required = _REQUIREMENTS.get(config.password_requirements, [])
    if any(not any(ch in charset for ch in password) for charset in required):
        reasons.append("characters")
        messages.append(
            "Password should contain at least one character of each: " + ", ".join(required) + "."
        )
    if reasons:
        raise AuthError(422, "weak_password", " ".join(messages), weak_password_reasons=reasons)


def weakness(config: AuthConfig, password: str) -> dict[str, object] | None:
    """The `weak_password` object a sign-in answer carries when the password is weak."""
    try:
        check_strength(config, password)
    except AuthError as error:
        return {"message": error.message, "reasons": error.weak_password_reasons}
    return None


async def hash_password(conn: AsyncConnection, password: str) -> str:
    cursor = await conn.execute(
        "select extensions.crypt(%s, extensions.gen_salt('bf', %s))", (password, BCRYPT_COST)
    )
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


async def password_matches(conn: AsyncConnection, password: str, stored_hash: str | None) -> bool:
    if not stored_hash or not password:
        return False
    cursor = await conn.execute(
        "select extensions.crypt(%s, %s) = %s", (password, stored_hash, stored_hash)
    )
    row = await cursor.fetchone()
    return bool(row and row[0])
