"""Registration and verification rules; knows nothing of HTTP, owns its commits."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.users import passwords
from app.users.exceptions import EmailTakenError, InvalidTokenError, UserNotFoundError
from app.users.models import User, UserVerificationToken
from app.users.verification import hash_token, new_token

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Registration:
    """A new user and the plaintext token for their e-mail (never stored)."""

    user: User
    token: str


def normalize_email(email: str) -> str:
    """The form compared for uniqueness: ``Ada@Example.com`` and ``ada@example.com`` clash."""
    return email.strip().casefold()


async def register_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    bcrypt_rounds: int,
    token_ttl: timedelta,
    now: datetime | None = None,
) -> Registration:
    """Create an unverified user and a verification token; committed on return.

    Raises ``EmailTakenError`` if the address is taken. The UNIQUE constraint on
    ``email_normalized`` decides races; the lookup first only saves a bcrypt run.
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
    )
    token = new_token()
    try:
        session.add(user)
        await session.flush()
        session.add(
            UserVerificationToken(
                user_id=user.id,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=now + token_ttl,
            )
        )
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if "email_normalized" in str(exc.orig):
            # Lost a race against a concurrent registration of the same address.
            raise EmailTakenError from None
        raise
    logger.info("registered user %s", user.id)
    return Registration(user=user, token=token)


async def verify_email(
    session: AsyncSession, *, token: str, now: datetime | None = None
) -> User:
    """Consume ``token`` and mark its user verified; committed on return.

    Raises ``InvalidTokenError`` for unknown, expired or used tokens. The token is
    claimed by one conditional UPDATE, so of two concurrent calls exactly one wins.
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
