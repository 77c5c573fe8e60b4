"""Refusals of the users domain, rendered as ``{"detail": ...}`` by app.errors."""

from fastapi import status

from app.errors import DomainError


class EmailTakenError(DomainError):
    """Another account already uses this address (``app.email_address.comparison_form``).

    The same words whether that account is verified or not (the resend endpoint must not
    be the only one keeping that secret), and they say how to get a new link.
    """

    status_code = status.HTTP_409_CONFLICT
    summary = (
        "The e-mail address is taken, verified or not (compared with letter case and "
        "Unicode forms folded: full-width letters and Full@Example.com match "
        "full@example.com)"
    )
    detail = (
        "An account with this e-mail address already exists; if it is not verified, "
        "POST /verification/resend sends a new link"
    )


class InvalidTokenError(DomainError):
    """The token is unknown, expired, already used, or replaced by a newer link.

    All look alike on purpose.
    """

    status_code = status.HTTP_400_BAD_REQUEST
    detail = "Invalid or expired token"


class UserNotFoundError(DomainError):
    """No user has this id."""

    status_code = status.HTTP_404_NOT_FOUND
    detail = "User not found"
