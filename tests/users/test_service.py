"""Registration and verification rules, against a real SQLite file."""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import bcrypt
import pytest
from sqlalchemy import select
from sqlalchemy.pool import QueuePool

from app.db import SessionFactory
from app.users import passwords, service
from app.users.exceptions import EmailTakenError, InvalidTokenError, UserNotFoundError
from app.users.models import User, UserVerificationToken
from app.users.verification import hash_token

pytestmark = pytest.mark.anyio

TTL = timedelta(hours=24)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def register(
    sessions: SessionFactory,
    email: str = "ada@example.com",
    *,
    password: str = "correct horse",
    name: str = "Ada",
    now: datetime | None = None,
) -> service.Registration:
    async with sessions() as session:
        return await service.register_user(
            session,
            email=email,
            password=password,
            name=name,
            bcrypt_rounds=4,
            token_ttl=TTL,
            now=now,
        )


def database_files_contain(directory: Path, needle: bytes) -> bool:
    with sqlite3.connect(directory / "users.db") as raw:
        raw.execute("PRAGMA wal_checkpoint(FULL)")
    return any(needle in path.read_bytes() for path in directory.glob("users.db*"))


async def verify(
    sessions: SessionFactory, token: str, *, now: datetime | None = None
) -> User:
    async with sessions() as session:
        return await service.verify_email(session, token=token, now=now)


async def test_register_stores_a_bcrypt_hash_not_the_password(
    sessions: SessionFactory,
) -> None:
    registration = await register(sessions, password="correct horse")

    async with sessions() as session:
        user = await session.get(User, registration.user.id)
    assert user is not None
    assert user.password_hash.startswith("$2b$04$")
    assert "correct horse" not in user.password_hash
    assert bcrypt.checkpw(b"correct horse", user.password_hash.encode())
    assert await passwords.verify_password("correct horse", user.password_hash)
    assert not await passwords.verify_password("wrong horse", user.password_hash)
    assert user.verified is False
    assert user.email == "ada@example.com"


async def test_register_stores_only_the_sha256_of_the_token(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    registration = await register(sessions)
    token = registration.token
    assert len(token) >= 43  # token_urlsafe(32)

    async with sessions() as session:
        stored = (await session.scalars(select(UserVerificationToken))).all()
    assert [row.token_hash for row in stored] == [hash_token(token)]
    assert stored[0].expires_at - stored[0].created_at == TTL
    # Nowhere in the database file (nor its WAL) is the plaintext token.
    assert not database_files_contain(tmp_path, token.encode())
    assert database_files_contain(tmp_path, hash_token(token).encode())


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
    registration = await register(sessions, "Ada.Lovelace@example.com")

    assert registration.user.email == "Ada.Lovelace@example.com"
    assert registration.user.email_normalized == "ada.lovelace@example.com"


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
    registration = await register(sessions, now=T0)

    user = await verify(sessions, registration.token, now=T0 + timedelta(hours=1))

    assert user.id == registration.user.id
    assert user.verified is True
    assert user.verified_at == T0 + timedelta(hours=1)
    async with sessions() as session:
        row = await session.scalar(select(UserVerificationToken))
    assert row is not None
    assert row.used_at == T0 + timedelta(hours=1)


async def test_a_token_works_only_once(sessions: SessionFactory) -> None:
    registration = await register(sessions)
    await verify(sessions, registration.token)

    with pytest.raises(InvalidTokenError):
        await verify(sessions, registration.token)


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
    registration = await register(sessions, now=T0)

    if valid:
        user = await verify(sessions, registration.token, now=T0 + age)
        assert user.verified
    else:
        with pytest.raises(InvalidTokenError):
            await verify(sessions, registration.token, now=T0 + age)
        async with sessions() as session:
            user_row = await session.get(User, registration.user.id)
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
    registration = await register(sessions)

    with pytest.raises(InvalidTokenError):
        await verify(sessions, hash_token(registration.token))


async def test_concurrent_verifications_of_one_token_succeed_exactly_once(
    sessions: SessionFactory,
) -> None:
    registration = await register(sessions)
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await verify(sessions, registration.token)
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
