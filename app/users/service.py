"""Registration and verification rules; knows nothing of HTTP, owns its commits.

Every e-mail a state change promises is an outbox row written in that change's transaction
(``app.outbox``): the verification e-mail with the user and their token, a fresh one with a
resend, the welcome e-mail with the verification. The caller schedules their delivery.
"""

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.email_address import comparison_form
from app.outbox import service as outbox
from app.outbox.models import OutboxKind
from app.outbox.service import NewMessage
from app.users import passwords
from app.users.exceptions import EmailTakenError, InvalidTokenError, UserNotFoundError
from app.users.models import User, UserVerificationToken
from app.users.verification import hash_token, new_token, verification_url

logger = logging.getLogger(__name__)

# Outbox rows about a user carry this subject type (GET /users/{id} lists them).
SUBJECT = "user"
VERIFICATION_TOPIC = "email_verification"
# At most one fresh verification link per account in this window (POST /verification/resend).
RESEND_INTERVAL = timedelta(seconds=60)


def normalize_email(email: str) -> str:
    """The form compared for uniqueness and resend (``app.email_address.comparison_form``).

    ``Ada@Example.com``, ``ada@example.com`` and ``ada@example.com`` in full-width letters clash.
    """
    return comparison_form(email)


def verification_email(user_id: int, *, to: str, name: str, link: str) -> NewMessage:
    """The e-mail carrying a verification link (the link holds the only plaintext token).

    The outbox replaces ``data.verification_url`` once the row is sent or failed.
    """
    return NewMessage(
        kind=OutboxKind.EMAIL,
        topic=VERIFICATION_TOPIC,
        payload={
            "to": to,
            "subject": "Verify your email",
            "template": "email_verification",
            "data": {"name": name, "verification_url": link},
        },
        subject_type=SUBJECT,
        subject_id=user_id,
    )


def welcome_email(user_id: int, *, to: str, name: str) -> NewMessage:
    """The e-mail greeting a user whose address was just verified."""
    return NewMessage(
        kind=OutboxKind.EMAIL,
        topic="welcome",
        payload={
            "to": to,
            "subject": "Welcome to Our App!",
            "template": "welcome",
            "data": {"name": name},
        },
        subject_type=SUBJECT,
        subject_id=user_id,
    )


def _stage_link(
    session: AsyncSession,
    *,
    user_id: int,
    to: str,
    name: str,
    public_base_url: str,
    token_ttl: timedelta,
    now: datetime,
) -> None:
    # A new token (only its hash stored) and the e-mail carrying it, in the caller's
    # transaction: both exist exactly when the change that promised them does.
    token = new_token()
    session.add(
        UserVerificationToken(
            user_id=user_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + token_ttl,
        )
    )
    link = verification_url(public_base_url, token)
    outbox.add(
        session,
        verification_email(user_id, to=to, name=name, link=link),
        now=now,
    )


async def register_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    bcrypt_rounds: int,
    token_ttl: timedelta,
    public_base_url: str,
    now: datetime | None = None,
) -> User:
    """Create an unverified user, a verification token and its e-mail; committed on return.

    The e-mail is an outbox row committed with the user: it is delivered even if the
    process dies before its task runs. Raises ``EmailTakenError`` if the address is taken.
    The UNIQUE constraint on ``email_normalized`` decides races; the lookup first only
    saves a bcrypt run.
    """
    now = now or utcnow()
    normalized = normalize_email(email)
    if await _email_exists(session, normalized):
        raise EmailTakenError
    # Give the connection back to the pool while bcrypt runs (~0.25 s, in a thread):
    # otherwise a burst of registrations pins every pooled connection doing nothing.
    await session.commit()
    password_hash = await passwords.hash_password(password, rounds=bcrypt_rounds)

    user = User(
        email=email,
        email_normalized=normalized,
        password_hash=password_hash,
        name=name,
        created_at=now,
        verification_sent_at=now,
    )
    try:
        session.add(user)
        await session.flush()
        _stage_link(
            session,
            user_id=user.id,
            to=user.email,
            name=user.name,
            public_base_url=public_base_url,
            token_ttl=token_ttl,
            now=now,
        )
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if "email_normalized" in str(exc.orig):
            # Lost a race against a concurrent registration of the same address.
            raise EmailTakenError from None
        raise
    logger.info("registered user %s", user.id)
    return user


async def resend_verification(
    session: AsyncSession,
    *,
    email: str,
    public_base_url: str,
    token_ttl: timedelta,
    now: datetime | None = None,
    interval: timedelta = RESEND_INTERVAL,
) -> int | None:
    """Stage a fresh link for an unverified account; its id, or None if nothing was sent.

    None for an unknown address, a verified account, or a link sent less than
    ``interval`` ago: the caller must not tell these apart for the client. Every case
    costs the same single UPDATE; only a resend adds its rows. Older links of the
    account are revoked in the same transaction as the new token and its e-mail.
    """
    now = now or utcnow()
    # One conditional UPDATE decides (and rate-limits) a resend: of concurrent requests
    # for one account exactly one matches; the others see the new timestamp and match
    # nothing. The rows it returns are the account's, with no second round trip.
    claimed = await session.execute(
        update(User)
        .where(
            User.email_normalized == normalize_email(email),
            User.verified_at.is_(None),
            or_(
                User.verification_sent_at.is_(None),
                User.verification_sent_at <= now - interval,
            ),
        )
        .values(verification_sent_at=now)
        .returning(User.id, User.email, User.name)
        .execution_options(synchronize_session=False)
    )
    account = claimed.one_or_none()
    if account is None:
        await session.rollback()
        return None
    user_id, to, name = account
    await outbox.supersede(
        session,
        subject_type=SUBJECT,
        subject_id=user_id,
        topic=VERIFICATION_TOPIC,
        now=now,
    )
    await session.execute(
        update(UserVerificationToken)
        .where(
            UserVerificationToken.user_id == user_id,
            UserVerificationToken.used_at.is_(None),
            UserVerificationToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    _stage_link(
        session,
        user_id=user_id,
        to=to,
        name=name,
        public_base_url=public_base_url,
        token_ttl=token_ttl,
        now=now,
    )
    await session.commit()
    logger.info("new verification link for user %s", user_id)
    return user_id


async def verify_email(
    session: AsyncSession, *, token: str, now: datetime | None = None
) -> User:
    """Consume ``token``, mark its user verified and stage the welcome e-mail; committed.

    Raises ``InvalidTokenError`` for unknown, expired, used or revoked tokens. The token
    is claimed by one conditional UPDATE, so of two concurrent calls exactly one wins.
    """
    now = now or utcnow()
    token_hash = hash_token(token)
    claimed = cast(
        CursorResult[Any],
        await session.execute(
            update(UserVerificationToken)
            .where(
                UserVerificationToken.token_hash == token_hash,
                UserVerificationToken.used_at.is_(None),
                UserVerificationToken.revoked_at.is_(None),
                UserVerificationToken.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if claimed.rowcount != 1:
        await session.rollback()
        raise InvalidTokenError
    user = await session.scalar(
        select(User)
        .join(UserVerificationToken, UserVerificationToken.user_id == User.id)
        .where(UserVerificationToken.token_hash == token_hash)
    )
    assert user is not None  # the token row references it (foreign key)
    if user.verified_at is None:
        user.verified_at = now
        # Promised by this verification, so written with it (one welcome per user).
        outbox.add(
            session, welcome_email(user.id, to=user.email, name=user.name), now=now
        )
    await session.commit()
    logger.info("verified e-mail of user %s", user.id)
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    """The user with this id, or ``UserNotFoundError``."""
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFoundError
    return user


async def _email_exists(session: AsyncSession, normalized: str) -> bool:
    found = await session.scalar(
        select(User.id).where(User.email_normalized == normalized)
    )
    return found is not None
