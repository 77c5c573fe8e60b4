"""Refusals of the users domain, rendered as ``{"detail": ...}`` by app.errors."""

from fastapi import status

from app.errors import DomainError


class EmailTakenError(DomainError):
    """Another account already uses this address (compared case-insensitively)."""

    status_code = status.HTTP_409_CONFLICT
    detail = "An account with this e-mail address already exists"


class InvalidTokenError(DomainError):
    """The token is unknown, expired or already used; all look alike on purpose."""

    status_code = status.HTTP_400_BAD_REQUEST
    detail = "Invalid or expired token"


class UserNotFoundError(DomainError):
    """No user has this id."""

    status_code = status.HTTP_404_NOT_FOUND
    detail = "User not found"
