"""HTTP endpoints of registration and verification: parse, call the service, schedule."""

from datetime import timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.clients.dependencies import (
    AlertsDep,
    EmailServiceDep,
    SettingsDep,
    TrackerDep,
)
from app.db import SessionDep
from app.errors import UNREADABLE_BODY
from app.users import service
from app.users.dependencies import ExistingUser
from app.users.schemas import (
    REGISTERED_MESSAGE,
    VERIFIED_MESSAGE,
    EmailVerified,
    UserCreate,
    UserRead,
    UserRegistered,
)
from app.users.task_error_handlers import on_verification_email_failed
from app.users.tasks import (
    EMAIL_RETRIES,
    EMAIL_RETRY_BACKOFF,
    EMAIL_RETRY_ON,
    send_verification_email,
    send_welcome_email,
)
from app.users.verification import verification_url
from fastapi_tasks import Tasks

router = APIRouter(tags=["users"])

_CONFLICT = {
    "description": "The e-mail address is taken (compared case-insensitively)",
    "content": {
        "application/json": {
            "example": {"detail": "An account with this e-mail address already exists"}
        }
    },
}
_BAD_TOKEN = {
    "description": "The token is unknown, expired or already used",
    "content": {
        "application/json": {"example": {"detail": "Invalid or expired token"}}
    },
}
_NOT_FOUND = {
    "description": "No user has this id",
    "content": {"application/json": {"example": {"detail": "User not found"}}},
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Register a user and e-mail them a verification link",
    responses={**UNREADABLE_BODY, status.HTTP_409_CONFLICT: _CONFLICT},
)
async def register_user(
    body: UserCreate,
    session: SessionDep,
    settings: SettingsDep,
    email: EmailServiceDep,
    alerts: AlertsDep,
    tracker: TrackerDep,
    tasks: Tasks,
) -> UserRegistered:
    """Passwords need 8+ characters and at most 72 bytes (bcrypt's limit).

    The verification e-mail is sent after the response, retried 3 times with
    exponential back-off; if it still fails, the operators get one alert.
    """
    # Committed inside the service before anything below is scheduled.
    registration = await service.register_user(
        session,
        email=body.email,
        password=body.password,
        name=body.name,
        bcrypt_rounds=settings.bcrypt_rounds,
        token_ttl=timedelta(hours=settings.verification_ttl_hours),
    )
    user = registration.user
    tasks.after_response.task(
        name="users.send_verification_email",
        retries=EMAIL_RETRIES,
        retry_delay=settings.email_retry_delay_s,
        retry_backoff=EMAIL_RETRY_BACKOFF,
        retry_on=EMAIL_RETRY_ON,
        on_error=partial(on_verification_email_failed, user_id=user.id, alerts=alerts),
    ).schedule(
        send_verification_email,
        email=email,
        to=user.email,
        name=user.name,
        verification_url=verification_url(settings.public_base_url, registration.token),
    )
    # Analytics get the id only: no e-mail address, no password.
    tasks.after_response.task(name="users.track_registration").schedule(
        tracker.track, event="user_registered", user_id=user.id, properties={}
    )
    return UserRegistered(user_id=user.id, message=REGISTERED_MESSAGE)


@router.post(
    "/verify",
    summary="Verify an e-mail address with the token from the e-mailed link",
    responses={status.HTTP_400_BAD_REQUEST: _BAD_TOKEN},
)
async def verify_email(
    token: Annotated[
        str,
        Query(
            description="The token from the verification link (single use)",
            examples=["q3Yx0vJc8m1kS9b2hXoZ7tUeW4rNdLpA6fGiC5yKjQs"],
        ),
    ],
    session: SessionDep,
    settings: SettingsDep,
    email: EmailServiceDep,
    tracker: TrackerDep,
    tasks: Tasks,
) -> EmailVerified:
    """A token works once, within the configured validity (24 h by default)."""
    user = await service.verify_email(session, token=token)
    tasks.after_response.task(
        name="users.send_welcome_email",
        retries=EMAIL_RETRIES,
        retry_delay=settings.email_retry_delay_s,
        retry_backoff=EMAIL_RETRY_BACKOFF,
        retry_on=EMAIL_RETRY_ON,
    ).schedule(send_welcome_email, email=email, to=user.email, name=user.name)
    tasks.after_response.task(name="users.track_verification").schedule(
        tracker.track, event="email_verified", user_id=user.id, properties={}
    )
    return EmailVerified(message=VERIFIED_MESSAGE)


# user_id is read by the ExistingUser dependency, which FAST003 cannot see.
@router.get(
    "/users/{user_id}",  # noqa: FAST003
    summary="Show a user and whether their e-mail is verified",
    responses={status.HTTP_404_NOT_FOUND: _NOT_FOUND},
)
async def get_user(user: ExistingUser) -> UserRead:
    return UserRead.model_validate(user)
