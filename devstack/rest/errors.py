"""PostgREST's errors: the four-key body, every PGRST code the gateway answers (one
constructor each, so a code and its wording live in one place) and the SQLSTATE-to-status
mapping of errors Postgres raises."""

from __future__ import annotations

import json
from typing import Any

import psycopg


class ApiError(Exception):
    """An error answered as PostgREST answers it: a status and {code, message, details, hint}."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }


# ------------------------------------------------------------ the request (PGRST1xx)


def parse_error(message: str, details: str | None = None) -> ApiError:
    return ApiError(400, "PGRST100", message, details)


def function_method(method: str) -> ApiError:
    return ApiError(405, "PGRST101", f"Cannot use the {method} method on RPC")


def invalid_body(message: str, details: str | None = None) -> ApiError:
    return ApiError(400, "PGRST102", message, details)


def range_not_satisfiable(details: str | None = None) -> ApiError:
    return ApiError(416, "PGRST103", "Requested range not satisfiable", details)


def put_filters() -> ApiError:
    return ApiError(
        405,
        "PGRST105",
        "Filters must include all and only primary key columns with 'eq' operators",
    )


def unknown_schema(schema: str, exposed: str) -> ApiError:
    """An Accept-Profile / Content-Profile naming a schema that is not exposed (v13.0.7+)."""
    return ApiError(
        406,
        "PGRST106",
        f"Invalid schema: {schema}",
        hint=f"Only the following schemas are exposed: {exposed}",
    )


def unacceptable(accept: str) -> ApiError:
    """No media type of the Accept header can be produced."""
    return ApiError(406, "PGRST107", f"None of these media types are available: {accept}")


def unsupported_media(media: str) -> ApiError:
    """A request body in a media type that cannot be read."""
    return ApiError(415, "PGRST107", f"The media type {media} is not supported")


def not_embedded(dotted: str) -> ApiError:
    return ApiError(
        400,
        "PGRST108",
        f"'{dotted}' is not an embedded resource in this request",
        None,
        f"Verify that '{dotted}' is included in the 'select' query parameter.",
    )


def put_limit_offset() -> ApiError:
    return ApiError(400, "PGRST114", "limit/offset querystring parameters are not allowed for PUT")


def put_key_mismatch() -> ApiError:
    return ApiError(400, "PGRST115", "Payload values do not match URL in primary key column(s)")


def not_singular(count: int) -> ApiError:
    return ApiError(
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        f"The result contains {count} rows",
    )


def unsupported_method(method: str) -> ApiError:
    return ApiError(405, "PGRST117", f"Unsupported HTTP method: {method}")


def related_order(origin: str, target: str) -> ApiError:
    return ApiError(
        400,
        "PGRST118",
        f"A related order on '{target}' is not possible",
        f"'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship",
    )


def embed_operator(name: str) -> ApiError:
    return ApiError(
        400,
        "PGRST120",
        f"Bad operator on the '{name}' embedded resource",
        "Only is null or not is null filters are allowed on embedded resources",
    )


def invalid_preferences(invalid: list[str]) -> ApiError:
    return ApiError(
        400,
        "PGRST122",
        "Invalid preferences given with handling=strict",
        f"Invalid preferences: {', '.join(invalid)}",
    )


def aggregates() -> ApiError:
    return ApiError(400, "PGRST123", "Use of aggregate functions is not allowed")


def max_affected(affected: int) -> ApiError:
    return ApiError(
        400,
        "PGRST124",
        "Query result exceeds max-affected preference constraint",
        f"The query affects {affected} rows",
    )


def max_affected_single_value() -> ApiError:
    return ApiError(
        400,
        "PGRST128",
        "Function must return SETOF or TABLE when max-affected preference is used with "
        "handling=strict",
    )


def not_implemented(feature: str) -> ApiError:
    """Something PostgREST does that devstack does not: said plainly, never answered wrongly."""
    return ApiError(
        400,
        "PGRST127",
        "Feature not implemented",
        f"{feature} is not implemented by the devstack REST API",
        "Run the real stack (`supabase start`) for this feature",
    )


# ------------------------------------------------------------ the schema cache (PGRST2xx)


def no_relationship(
    origin: str, target: str, searched: str, schema: str, hint: str | None = None
) -> ApiError:
    return ApiError(
        400,
        "PGRST200",
        f"Could not find a relationship between '{origin}' and '{target}' in the schema cache",
        f"Searched for a foreign key relationship between {searched} in the schema "
        f"'{schema}', but no matches were found.",
        hint,
    )


def ambiguous_relationship(origin: str, target: str, details: list, options: str) -> ApiError:
    return ApiError(
        300,
        "PGRST201",
        f"Could not embed because more than one relationship was found for '{origin}' and "
        f"'{target}'",
        details,  # PostgREST sends a list here
        f"Try changing '{target}' to one of the following: {options}. Find the desired "
        "relationship in the 'details' key.",
    )


def unknown_function(
    name: str, keys: set[str], json_body: bool, suggestion: str | None = None
) -> ApiError:
    """No overload takes these argument names; a POST with a JSON body could also have
    meant a function taking a single unnamed json/jsonb parameter. `suggestion`: the
    function (with its parameters) the caller may have meant."""
    listed = ", ".join(sorted(keys))
    function = f"public.{name}"
    if not keys:
        called = searched = " without parameters"
    else:
        called = f"({listed})"
        searched = f" with parameter{'s' if len(keys) > 1 else ''} {listed}"
    if json_body:
        searched += " or with a single unnamed json/jsonb parameter"
    return ApiError(
        404,
        "PGRST202",
        f"Could not find the function {function}{called} in the schema cache",
        f"Searched for the function {function}{searched}, but no matches were found in the "
        "schema cache.",
        f"Perhaps you meant to call the function public.{suggestion}" if suggestion else None,
    )


def ambiguous_function(signatures: list[str]) -> ApiError:
    return ApiError(
        300,
        "PGRST203",
        "Could not choose the best candidate function between: " + ", ".join(signatures),
        None,
        "Try renaming the parameters or the function itself in the database so "
        "function overloading can be resolved",
    )


def unknown_column(column: str, table: str) -> ApiError:
    return ApiError(
        400,
        "PGRST204",
        f"Could not find the '{column}' column of '{table}' in the schema cache",
    )


def unknown_table(name: str, suggestion: str | None = None) -> ApiError:
    return ApiError(
        404,
        "PGRST205",
        f"Could not find the table 'public.{name}' in the schema cache",
        hint=f"Perhaps you meant the table 'public.{suggestion}'" if suggestion else None,
    )


def duplicate_subquery(name: str) -> ApiError:
    """Two embeds of one name at one level: PostgREST's SQL names both subqueries alike, and
    Postgres refuses it (duplicate_alias, HTTP 400)."""
    return ApiError(400, "42712", f'table name "{name}" specified more than once')


# ------------------------------------------------------------ the token (PGRST3xx)


def token_rejected(expired: bool, message: str) -> ApiError:
    """PGRST303 for a token outside its validity period, PGRST301 for any other flaw."""
    return ApiError(
        401,
        "PGRST303" if expired else "PGRST301",
        message,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{message}"'
        },
    )


def role_claim() -> ApiError:
    return ApiError(
        401,
        "PGRST301",
        "JWT role claim must be a non-empty string",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


# ------------------------------------------------------------ the connection (PGRST0xx)


def connection_error(details: str) -> ApiError:
    """No connection to the database could be opened: PostgREST's PGRST000."""
    return ApiError(503, "PGRST000", "Database connection error. Retrying the connection.", details)


def client_error(details: str) -> ApiError:
    """The connection broke during the request: PostgREST's PGRST001."""
    return ApiError(503, "PGRST001", "Database client error. Retrying the connection.", details)


def acquisition_timeout() -> ApiError:
    """Every connection stayed busy for the acquisition timeout: PostgREST's PGRST003."""
    return ApiError(504, "PGRST003", "Timed out acquiring connection from connection pool.")


def internal() -> ApiError:
    """A bug in the gateway, not in the request: logged, and answered without details."""
    return ApiError(500, "PGRSTX00", "Internal error in the devstack REST API")


def _status_for_sqlstate(sqlstate: str, anonymous: bool) -> int:
    exact = {
        "23503": 409,
        "23505": 409,
        "23P01": 409,
        "25006": 405,
        "42501": 401 if anonymous else 403,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
        "53400": 500,
        "57P01": 503,
        "P0001": 400,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    by_class = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        # Program limits (stack depth of a deeply nested JSON value, array dimensions, an
        # index row too large): PostgREST answers 500, but the request asked for more than
        # Postgres does, so devstack answers 400 with the SQLSTATE, as for any bad input.
        "54": 400,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return by_class.get(sqlstate[:2], 400)


def from_database(error: psycopg.Error, anonymous: bool) -> ApiError:
    """The response PostgREST gives for an error raised by Postgres."""
    diag = error.diag
    if isinstance(error, psycopg.OperationalError) and not (error.sqlstate or diag.sqlstate):
        return client_error(str(error).strip())  # the connection broke: no server error
    sqlstate = error.sqlstate or diag.sqlstate or "XX000"
    message = diag.message_primary or str(error).strip()
    if sqlstate == "PGRST":
        return _raised_pgrst(message, diag.message_detail)
    status = _status_for_sqlstate(sqlstate, anonymous)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return ApiError(status, sqlstate, message, diag.message_detail, diag.message_hint, headers)


_DETAIL_HINT = (
    "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: "
    "'status_text'."
)


def _unparseable_raise(details: str, hint: str) -> ApiError:
    return ApiError(
        500,
        "PGRST121",
        "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
        details,
        hint,
    )


def _raised_pgrst(message: str, detail: str | None) -> ApiError:
    """`RAISE SQLSTATE 'PGRST'`: a JSON message {code, message, details, hint} and a JSON
    detail {status, headers}."""
    failure = _unparseable_raise(
        f"Invalid JSON value for MESSAGE: '{message}'",
        "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional "
        "keys: 'details', 'hint'.",
    )
    try:
        body = json.loads(message)
    except ValueError:
        return failure
    if not isinstance(body, dict) or not {"code", "message"} <= body.keys():
        return failure
    if detail is None:
        return _unparseable_raise("DETAIL is missing in the RAISE statement", _DETAIL_HINT)
    try:
        extra = json.loads(detail)
        status = int(extra["status"])
        headers = {str(k): str(v) for k, v in (extra.get("headers") or {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return _unparseable_raise(f"Invalid JSON value for DETAIL: '{detail}'", _DETAIL_HINT)
    if not 100 <= status <= 599:
        status = 500

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return ApiError(
        status,
        str(body["code"]),
        str(body["message"]),
        text(body.get("details")),
        text(body.get("hint")),
        headers,
    )
