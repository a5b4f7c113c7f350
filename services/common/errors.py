"""Errors a service raises on purpose; the gRPC layer maps each to its status code.

Messages must be safe to show the caller and to log: ids and field names, never values.
"""

from __future__ import annotations

import grpc
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

DATABASE_AWAY_MESSAGE = "database unavailable, try again shortly"


def database_away(exc: BaseException) -> bool:
    """The database being away, as a caller of SQLAlchemy sees it: the server refusing or
    gone (OperationalError, InterfaceError), a connection SQLAlchemy found cut mid-statement
    (any DBAPIError it marks as a disconnect), or the socket itself refused or reset."""
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class ServiceError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field_errors: dict[str, str]) -> None:
        self.field_errors = field_errors
        super().__init__("; ".join(f"{f}: {why}" for f, why in field_errors.items()))


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, message: str, existing_id: str = "") -> None:
        self.existing_id = existing_id
        super().__init__(message)


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unimplemented(ServiceError):
    """A valid request for something not built yet; the message names what is missing."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Unavailable(ServiceError):
    """Something the call needs (a provider, another service) is away for now; the caller
    may try again, with the same request, later."""

    code = grpc.StatusCode.UNAVAILABLE


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermanentFailure(Exception):
    """A message that can never be processed (malformed, unknown schema): dead-letter it now."""
