"""Registration, resend and verification rules, against a real SQLite file."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import anyio
import bcrypt
import pytest
from sqlalchemy import select, text
from sqlalchemy.pool import QueuePool

from app.db import SessionFactory
from app.outbox import service as outbox_service
from app.outbox.models import OutboxKind, OutboxMessage, OutboxStatus
from app.users import passwords, service
from app.users.exceptions import EmailTakenError, InvalidTokenError, UserNotFoundError
from app.users.models import User, UserVerificationToken
from app.users.verification import hash_token

pytestmark = pytest.mark.anyio

TTL = timedelta(hours=24)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BASE_URL = "https://app.test"


async def register(
    sessions: SessionFactory,
    email: str = "ada@example.com",
    *,
    password: str = "correct horse",
    name: str = "Ada",
    now: datetime | None = None,
) -> User:
    async with sessions() as session:
        return await service.register_user(
            session,
            email=email,
            password=password,
            name=name,
            bcrypt_rounds=4,
            token_ttl=TTL,
            public_base_url=BASE_URL,
            now=now,
        )


async def resend(
    sessions: SessionFactory, email: str = "ada@example.com", *, now: datetime
) -> int | None:
    async with sessions() as session:
        return await service.resend_verification(
            session, email=email, public_base_url=BASE_URL, token_ttl=TTL, now=now
        )


async def messages_of(sessions: SessionFactory, user_id: int) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(
            await outbox_service.for_subject(
                session, subject_type="user", subject_id=user_id
            )
        )


def token_of(message: OutboxMessage) -> str:
    url: str = message.payload["data"]["verification_url"]
    assert url.startswith(f"{BASE_URL}/verify?token=")
    token: str = parse_qs(urlsplit(url).query)["token"][0]
    assert url.endswith(f"?token={token}")
    return token


async def verification_rows(
    sessions: SessionFactory, user_id: int
) -> list[OutboxMessage]:
    """The user's verification e-mails (outbox rows), oldest first."""
    return [
        message
        for message in await messages_of(sessions, user_id)
        if message.topic == "email_verification"
    ]


async def links_of(sessions: SessionFactory, user_id: int) -> list[str]:
    """The tokens of the user's verification e-mails still to send, oldest first."""
    return [
        token_of(message)
        for message in await verification_rows(sessions, user_id)
        if message.status != "superseded"
    ]


async def newest_link(sessions: SessionFactory, user_id: int) -> str:
    return (await links_of(sessions, user_id))[-1]


async def tokens_of(
    sessions: SessionFactory, user_id: int
) -> list[UserVerificationToken]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(UserVerificationToken)
                .where(UserVerificationToken.user_id == user_id)
                .order_by(UserVerificationToken.id)
            )
        )


async def verify(
    sessions: SessionFactory, token: str, *, now: datetime | None = None
) -> User:
    async with sessions() as session:
        return await service.verify_email(session, token=token, now=now)


async def test_register_stores_a_bcrypt_hash_not_the_password(
    sessions: SessionFactory,
) -> None:
    registered = await register(sessions, password="correct horse")

    async with sessions() as session:
        user = await session.get(User, registered.id)
    assert user is not None
    assert user.password_hash.startswith("$2b$04$")
    assert "correct horse" not in user.password_hash
    assert bcrypt.checkpw(b"correct horse", user.password_hash.encode())
    assert await passwords.verify_password("correct horse", user.password_hash)
    assert not await passwords.verify_password("wrong horse", user.password_hash)
    assert user.verified is False
    assert user.email == "ada@example.com"


async def test_register_commits_the_verification_email_with_the_user(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions, "Ada@Example.com", name="Ada", now=T0)

    # A fresh session: the row was committed with the user, before any task could run.
    [message] = await messages_of(sessions, user.id)
    assert (message.kind, message.topic) == (OutboxKind.EMAIL, "email_verification")
    assert message.status == OutboxStatus.PENDING
    assert message.payload["to"] == "Ada@Example.com"
    assert message.payload["subject"] == "Verify your email"
    assert message.payload["template"] == "email_verification"
    assert message.payload["data"]["name"] == "Ada"
    assert len(token_of(message)) == 43  # token_urlsafe(32)
    assert user.verification_sent_at == T0


async def test_register_stores_only_the_sha256_of_the_token(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions)
    token = await newest_link(sessions, user.id)

    stored = await tokens_of(sessions, user.id)
    assert [row.token_hash for row in stored] == [hash_token(token)]
    assert stored[0].expires_at - stored[0].created_at == TTL
    # The plaintext is in the outbox row's payload only (which delivery scrubs): not in
    # any column of the users tables.
    async with sessions() as session:
        for table in ("user", "user_verification_token"):
            rows = (await session.execute(text(f'SELECT * FROM "{table}"'))).all()
            assert token not in str(rows)


async def test_a_refused_registration_stages_no_email(
    sessions: SessionFactory,
) -> None:
    await register(sessions, "ada@example.com")

    with pytest.raises(EmailTakenError):
        await register(sessions, "ADA@example.com")

    async with sessions() as session:
        messages = (await session.scalars(select(OutboxMessage))).all()
    assert len(messages) == 1


@pytest.mark.parametrize(
    "second", ["ada@example.com", "Ada@Example.com", "ADA@EXAMPLE.COM"]
)
async def test_register_refuses_an_address_taken_in_any_case(
    sessions: SessionFactory, second: str
) -> None:
    await register(sessions, "ada@example.com")

    with pytest.raises(EmailTakenError):
        await register(sessions, second)

    async with sessions() as session:
        count = len((await session.scalars(select(User))).all())
    assert count == 1


async def test_register_keeps_the_address_as_typed_and_compares_it_folded(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions, "Ada.Lovelace@example.com")

    assert user.email == "Ada.Lovelace@example.com"
    assert user.email_normalized == "ada.lovelace@example.com"


@pytest.mark.usefixtures("hashing_waits_for_both")
async def test_concurrent_registrations_of_one_address_let_exactly_one_win(
    sessions: SessionFactory,
) -> None:
    outcomes: list[str] = []

    async def attempt(email: str) -> None:
        try:
            await register(sessions, email)
        except EmailTakenError:
            outcomes.append("taken")
        else:
            outcomes.append("created")

    async with anyio.create_task_group() as group:
        group.start_soon(attempt, "grace@example.com")
        group.start_soon(attempt, "Grace@Example.com")

    assert sorted(outcomes) == ["created", "taken"]
    async with sessions() as session:
        users = (await session.scalars(select(User))).all()
    assert len(users) == 1


async def test_verify_marks_the_user_verified_and_uses_the_token(
    sessions: SessionFactory,
) -> None:
    registered = await register(sessions, now=T0)
    token = await newest_link(sessions, registered.id)

    user = await verify(sessions, token, now=T0 + timedelta(hours=1))

    assert user.id == registered.id
    assert user.verified is True
    assert user.verified_at == T0 + timedelta(hours=1)
    [row] = await tokens_of(sessions, user.id)
    assert row.used_at == T0 + timedelta(hours=1)


async def test_verify_commits_one_welcome_email_with_the_verification(
    sessions: SessionFactory,
) -> None:
    registered = await register(sessions, name="Ada")
    token = await newest_link(sessions, registered.id)

    await verify(sessions, token)

    messages = await messages_of(sessions, registered.id)
    assert [m.topic for m in messages] == ["email_verification", "welcome"]
    welcome = messages[1]
    assert welcome.status == OutboxStatus.PENDING
    assert welcome.payload == {
        "to": "ada@example.com",
        "subject": "Welcome to Our App!",
        "template": "welcome",
        "data": {"name": "Ada"},
    }


async def test_a_token_works_only_once(sessions: SessionFactory) -> None:
    user = await register(sessions)
    token = await newest_link(sessions, user.id)
    await verify(sessions, token)

    with pytest.raises(InvalidTokenError):
        await verify(sessions, token)
    welcomes = [m for m in await messages_of(sessions, user.id) if m.topic == "welcome"]
    assert len(welcomes) == 1


@pytest.mark.parametrize(
    ("age", "valid"),
    [
        (timedelta(0), True),
        (TTL - timedelta(seconds=1), True),
        (TTL, False),
        (TTL + timedelta(days=30), False),
    ],
)
async def test_a_token_expires_after_the_ttl(
    sessions: SessionFactory, age: timedelta, valid: bool
) -> None:
    registered = await register(sessions, now=T0)
    token = await newest_link(sessions, registered.id)

    if valid:
        user = await verify(sessions, token, now=T0 + age)
        assert user.verified
    else:
        with pytest.raises(InvalidTokenError):
            await verify(sessions, token, now=T0 + age)
        async with sessions() as session:
            user_row = await session.get(User, registered.id)
        assert user_row is not None
        assert not user_row.verified


@pytest.mark.parametrize("token", ["", "nope", "x" * 10_000, "\u00e9\ud800"])
async def test_unknown_tokens_are_invalid(sessions: SessionFactory, token: str) -> None:
    await register(sessions)

    with pytest.raises(InvalidTokenError):
        await verify(sessions, token)


async def test_the_stored_hash_is_not_accepted_as_a_token(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions)
    token = await newest_link(sessions, user.id)

    with pytest.raises(InvalidTokenError):
        await verify(sessions, hash_token(token))


async def test_concurrent_verifications_of_one_token_succeed_exactly_once(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions)
    token = await newest_link(sessions, user.id)
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await verify(sessions, token)
        except InvalidTokenError:
            outcomes.append("invalid")
        else:
            outcomes.append("verified")

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(attempt)

    assert sorted(outcomes) == ["invalid"] * 5 + ["verified"]


async def test_get_user_raises_for_an_unknown_id(sessions: SessionFactory) -> None:
    async with sessions() as session:
        with pytest.raises(UserNotFoundError):
            await service.get_user(session, 12345)


def test_normalize_email_folds_case() -> None:
    assert service.normalize_email("Ada@Example.COM") == "ada@example.com"


async def test_register_holds_no_database_connection_while_hashing(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bcrypt takes ~0.25 s; a burst of registrations must not pin the connection pool.
    held: list[int] = []
    real_hash = passwords.hash_password

    async def watching_hash(plain: str, *, rounds: int) -> str:
        async with sessions() as probe:
            pool = (await probe.connection()).engine.pool
            assert isinstance(pool, QueuePool)
            held.append(pool.checkedout() - 1)  # minus the probe's own
        return await real_hash(plain, rounds=rounds)

    monkeypatch.setattr(passwords, "hash_password", watching_hash)

    await register(sessions)

    assert held == [0]


# --- resend -------------------------------------------------------------------------


async def test_resend_for_an_unknown_address_stages_nothing(
    sessions: SessionFactory,
) -> None:
    await register(sessions, "ada@example.com", now=T0)

    assert await resend(sessions, "grace@example.com", now=T0 + TTL) is None

    async with sessions() as session:
        assert len((await session.scalars(select(OutboxMessage))).all()) == 1
        assert len((await session.scalars(select(UserVerificationToken))).all()) == 1


async def test_resend_for_a_verified_account_stages_nothing(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions, now=T0)
    await verify(sessions, await newest_link(sessions, user.id), now=T0)

    assert await resend(sessions, now=T0 + timedelta(hours=1)) is None

    assert len(await verification_rows(sessions, user.id)) == 1
    assert len(await tokens_of(sessions, user.id)) == 1


@pytest.mark.parametrize(
    ("after", "resent"),
    [
        (timedelta(0), False),
        (service.RESEND_INTERVAL - timedelta(seconds=1), False),
        (service.RESEND_INTERVAL, True),
        (timedelta(hours=5), True),
    ],
)
async def test_resend_sends_at_most_one_link_per_interval(
    sessions: SessionFactory, after: timedelta, resent: bool
) -> None:
    user = await register(sessions, now=T0)

    outcome = await resend(sessions, "ADA@example.com", now=T0 + after)

    assert outcome == (user.id if resent else None)
    assert len(await verification_rows(sessions, user.id)) == (2 if resent else 1)
    async with sessions() as session:
        row = await session.get(User, user.id)
    assert row is not None
    assert row.verification_sent_at == (T0 + after if resent else T0)


async def test_resend_counts_the_interval_from_the_newest_link(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions, now=T0)
    first = T0 + timedelta(minutes=5)
    assert await resend(sessions, now=first) == user.id

    assert await resend(sessions, now=first + timedelta(seconds=59)) is None
    assert await resend(sessions, now=first + timedelta(seconds=60)) == user.id


async def test_resend_revokes_older_links_and_the_new_one_works(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions, now=T0)
    old = await newest_link(sessions, user.id)
    later = T0 + timedelta(minutes=2)

    await resend(sessions, now=later)

    new = await newest_link(sessions, user.id)
    assert new != old
    # The old e-mail, never sent, is retired: it would only deliver a dead link.
    old_mail, new_mail = await verification_rows(sessions, user.id)
    assert (old_mail.status, new_mail.status) == ("superseded", "pending")
    assert "token=" not in str(old_mail.payload)
    old_row, new_row = await tokens_of(sessions, user.id)
    assert (old_row.token_hash, old_row.revoked_at) == (hash_token(old), later)
    assert (new_row.token_hash, new_row.revoked_at) == (hash_token(new), None)
    assert new_row.expires_at == later + TTL
    with pytest.raises(InvalidTokenError):
        await verify(sessions, old, now=later)
    assert (await verify(sessions, new, now=later)).verified


async def test_resend_commits_the_token_and_its_email_together(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions, "Ada@Example.com", name="Ada", now=T0)

    await resend(sessions, "ada@example.com", now=T0 + timedelta(minutes=2))

    first, second = await messages_of(sessions, user.id)
    assert second.payload["to"] == "Ada@Example.com"  # as registered, not as typed now
    assert second.payload["subject"] == first.payload["subject"]
    assert second.payload["data"]["name"] == "Ada"
    assert second.status == OutboxStatus.PENDING
    assert (
        hash_token(token_of(second))
        == (await tokens_of(sessions, user.id))[1].token_hash
    )


async def test_concurrent_resends_stage_exactly_one_link(
    sessions: SessionFactory,
) -> None:
    user = await register(sessions, now=T0)
    later = T0 + timedelta(minutes=2)
    outcomes: list[int | None] = []

    async def attempt() -> None:
        outcomes.append(await resend(sessions, now=later))

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(attempt)

    assert sorted(outcomes, key=str) == [user.id] + [None] * 5
    assert len(await verification_rows(sessions, user.id)) == 2
    assert [row.revoked_at is None for row in await tokens_of(sessions, user.id)] == [
        False,
        True,
    ]


async def test_a_resend_never_runs_bcrypt(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No branch may pay for a hash the others skip: timing would tell them apart.
    user = await register(sessions, now=T0)
    await register(sessions, "grace@example.com", now=T0)
    await verify(sessions, await newest_link(sessions, user.id), now=T0)

    async def no_bcrypt(*_: object, **__: object) -> None:
        raise AssertionError("bcrypt on the resend path")

    monkeypatch.setattr(passwords, "hash_password", no_bcrypt)
    monkeypatch.setattr(passwords, "verify_password", no_bcrypt)
    later = T0 + timedelta(minutes=2)

    for address in ("nobody@example.com", "ada@example.com", "grace@example.com"):
        await resend(sessions, address, now=later)
    await resend(sessions, "grace@example.com", now=later)  # within the interval
