"""HTTP endpoints of registration and verification: parse, call the service, schedule.

Every e-mail is an outbox row the service committed with the change that promised it;
the routes only schedule its delivery (``after_response``: attempts with back-off, one
alert if it fails for good). If that task dies with the process, the sweeper delivers it.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse

from app.analytics.dependencies import TrackerDep
from app.config import SettingsDep
from app.db import SessionDep
from app.errors import UNREADABLE_BODY, error_responses
from app.outbox import service as outbox_service
from app.outbox.delivery import Outbox
from app.outbox.dependencies import OutboxDep
from app.outbox.schemas import OutboxEntryRead
from app.text_input import Text
from app.users import service
from app.users.dependencies import ExistingUser
from app.users.exceptions import EmailTakenError, InvalidTokenError, UserNotFoundError
from app.users.schemas import (
    REGISTERED_MESSAGE,
    RESEND_MESSAGE,
    VERIFIED_MESSAGE,
    EmailVerified,
    ResendAccepted,
    UserCreate,
    UserRead,
    UserRegistered,
    VerificationResend,
)
from app.users.verify_page import verify_page
from fastapi_tasks import Tasks

router = APIRouter(tags=["users"])


_NOT_AN_ADDRESS = (
    "value is not a valid email address: An email address must have an @-sign."
)


def _deliver_emails(tasks: Tasks, outbox: Outbox, *, name: str, user_id: int) -> None:
    # The rows are committed (by the service) before this task can read them.
    outbox.delivery_task(tasks.after_response, name=name).schedule(
        outbox.deliver_pending, subject_type=service.SUBJECT, subject_id=user_id
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Register a user and e-mail them a verification link",
    responses={
        **UNREADABLE_BODY,
        **error_responses(
            EmailTakenError,
            invalid="Invalid e-mail address, a password under 8 characters or over 72 "
            "bytes, or an empty name",
            invalid_example=("email", _NOT_AN_ADDRESS),
        ),
    },
)
async def register_user(
    body: UserCreate,
    session: SessionDep,
    settings: SettingsDep,
    outbox: OutboxDep,
    tracker: TrackerDep,
    tasks: Tasks,
) -> UserRegistered:
    """Passwords need 8+ characters and at most 72 bytes (bcrypt's limit).

    The verification e-mail is committed with the user and sent after the response:
    4 attempts by default with exponential back-off, then one alert to the operators.
    A taken address is a 409 whose message points to ``POST /verification/resend``.
    """
    user = await service.register_user(
        session,
        email=body.email,
        password=body.password,
        name=body.name,
        bcrypt_rounds=settings.bcrypt_rounds,
        token_ttl=timedelta(hours=settings.verification_ttl_hours),
        public_base_url=settings.public_base_url,
    )
    _deliver_emails(
        tasks, outbox, name="users.send_verification_email", user_id=user.id
    )
    # Analytics get the id only: no e-mail address, no password.
    tasks.after_response.task(name="users.track_registration").schedule(
        tracker.track, event="user_registered", user_id=user.id, properties={}
    )
    return UserRegistered(user_id=user.id, message=REGISTERED_MESSAGE)


@router.post(
    "/verification/resend",
    status_code=status.HTTP_202_ACCEPTED,
    summary="E-mail a fresh verification link (at most one a minute per account)",
    responses={
        **UNREADABLE_BODY,
        **error_responses(
            invalid="Not an e-mail address (or no `email` field)",
            invalid_example=("email", _NOT_AN_ADDRESS),
        ),
    },
)
async def resend_verification(
    body: VerificationResend,
    session: SessionDep,
    settings: SettingsDep,
    outbox: OutboxDep,
    tasks: Tasks,
) -> ResendAccepted:
    """Always 202 with the same body: unknown, verified, recently sent or sent now.

    For an unverified account whose last link is at least a minute old, a new link is
    e-mailed after the response and every older link stops working.
    """
    user_id = await service.resend_verification(
        session,
        email=body.email,
        public_base_url=settings.public_base_url,
        token_ttl=timedelta(hours=settings.verification_ttl_hours),
    )
    if user_id is not None:
        # After the response: the answer cannot take longer because an e-mail is sent.
        _deliver_emails(
            tasks, outbox, name="users.send_verification_email", user_id=user_id
        )
    return ResendAccepted(message=RESEND_MESSAGE)


@router.post(
    "/verify",
    summary="Verify an e-mail address with the token from the e-mailed link",
    responses=error_responses(InvalidTokenError),
)
async def verify_email(
    token: Annotated[
        Text,
        Query(
            description="The token from the verification link (single use)",
            examples=["q3Yx0vJc8m1kS9b2hXoZ7tUeW4rNdLpA6fGiC5yKjQs"],
        ),
    ],
    session: SessionDep,
    outbox: OutboxDep,
    tracker: TrackerDep,
    tasks: Tasks,
) -> EmailVerified:
    """A token works once, within the configured validity (24 h by default), and only
    while it is the account's newest link."""
    user = await service.verify_email(session, token=token)
    _deliver_emails(tasks, outbox, name="users.send_welcome_email", user_id=user.id)
    tasks.after_response.task(name="users.track_verification").schedule(
        tracker.track, event="email_verified", user_id=user.id, properties={}
    )
    return EmailVerified(message=VERIFIED_MESSAGE)


@router.get(
    "/verify",
    summary="The page the e-mailed link opens: a button that verifies (GET changes nothing)",
    response_class=HTMLResponse,
    responses={status.HTTP_200_OK: {"content": {"text/html": {}}}},
)
async def verify_email_page(
    token: Annotated[
        Text, Query(description="The token from the verification link (single use)")
    ],
) -> HTMLResponse:
    """Link scanners and previews fetch links: only the button's POST uses the token."""
    return verify_page(token)


# user_id is read by the ExistingUser dependency, which FAST003 cannot see.
@router.get(
    "/users/{user_id}",  # noqa: FAST003
    summary="Show a user, whether their e-mail is verified, and their e-mails' delivery",
    responses=error_responses(UserNotFoundError),
)
async def get_user(user: ExistingUser, session: SessionDep) -> UserRead:
    messages = await outbox_service.for_subject(
        session, subject_type=service.SUBJECT, subject_id=user.id
    )
    return UserRead(
        user_id=user.id,
        email=user.email,
        name=user.name,
        verified=user.verified,
        notifications=[OutboxEntryRead.of(message) for message in messages],
    )
