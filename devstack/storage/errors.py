"""Supabase Storage's errors, as its API answers them.

The body is `{statusCode, code, error, message}` where `statusCode` is the error's own status
as a string ("404", "413"...), while the HTTP status is 400 for every error but a 500, as
Supabase Storage's error handler answers on its standard API (the official clients read the
body's `statusCode`). The few errors Storage sends with their real status (403 for a role the
API refuses) say so with `http_status`. Messages and codes are Storage's own.
"""

from __future__ import annotations

import psycopg
from starlette.responses import JSONResponse

RLS_REFUSAL = "new row violates row-level security policy"


class StorageError(Exception):
    def __init__(self, status: int, code: str, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.error = error or code
        self.http_status = 500 if status == 500 else 400

    def with_http_status(self, status: int) -> StorageError:
        self.http_status = status
        return self

    def body(self) -> dict[str, str]:
        return {
            "statusCode": str(self.status),
            "code": self.code,
            "error": self.error,
            "message": self.message,
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), self.http_status)


def no_such_bucket() -> StorageError:
    return StorageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found")


def no_such_key() -> StorageError:
    return StorageError(404, "NoSuchKey", "Object not found", "not_found")


def no_such_upload() -> StorageError:
    return StorageError(404, "NoSuchUpload", "Upload not found")


def invalid_key(key: str) -> StorageError:
    return StorageError(400, "InvalidKey", f"Invalid key: {key}")


def invalid_bucket_name() -> StorageError:
    return StorageError(400, "InvalidBucketName", "Bucket name invalid", "Invalid Input")


def access_denied(message: str = "Access denied") -> StorageError:
    return StorageError(403, "AccessDenied", message, "Unauthorized")


def already_exists(code: str = "ResourceAlreadyExists") -> StorageError:
    """A duplicate: ResourceAlreadyExists, or KeyAlreadyExists / BucketAlreadyExists."""
    return StorageError(409, code, "The resource already exists", "Duplicate")


def bucket_not_empty() -> StorageError:
    return StorageError(409, "ResourceNotEmpty", "The bucket you tried to delete is not empty")


def entity_too_large() -> StorageError:
    return StorageError(
        413,
        "EntityTooLarge",
        "The object exceeded the maximum allowed size",
        "Payload too large",
    )


def invalid_mime_type(mime_type: str) -> StorageError:
    return StorageError(
        415, "InvalidMimeType", f"mime type {mime_type} is not supported", "invalid_mime_type"
    )


def invalid_jwt(message: str) -> StorageError:
    return StorageError(400, "InvalidJWT", message)


def invalid_signature(message: str = "Invalid signature") -> StorageError:
    return StorageError(400, "InvalidSignature", message)


def invalid_request(message: str) -> StorageError:
    return StorageError(400, "InvalidRequest", message)


def missing_parameter(name: str) -> StorageError:
    return StorageError(400, "MissingParameter", f"Missing Required Parameter {name}")


def no_content() -> StorageError:
    return StorageError(400, "InvalidRequest", "No content provided")


def invalid_file_size_limit() -> StorageError:
    return StorageError(
        400, "InvalidRequest", "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B"
    )


def internal(message: str = "Internal server error") -> StorageError:
    return StorageError(500, "InternalError", message)


def database_unavailable() -> StorageError:
    return StorageError(
        429, "SlowDown", "Too many connections issued to the database", "too_many_connections"
    ).with_http_status(429)


def from_database(error: psycopg.Error) -> StorageError:
    """What Storage answers for a database error (its DBError.fromDBError): an RLS refusal
    is 403, a duplicate 409, a missing referenced row 404; the rest is a 500."""
    message = error.diag.message_primary or str(error)
    match error.sqlstate:
        case "42501":
            return access_denied(RLS_REFUSAL if "row-level security" in message else message)
        case "23505":
            return already_exists()
        case "23503":
            if "is still referenced" in (error.diag.message_detail or ""):
                return StorageError(
                    409,
                    "ResourceReferenced",
                    "The resource could not be updated or removed due to a foreign key constraint",
                )
            return StorageError(404, "InvalidRequest", "The related resource does not exist")
        case "57014":
            return StorageError(
                544, "DatabaseTimeout", "The connection to the database timed out"
            ).with_http_status(544)
        case "22P02":
            return StorageError(400, "InvalidParameter", "Invalid Parameter value")
        case _:
            return StorageError(500, "DatabaseError", message)
