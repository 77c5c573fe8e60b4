"""Password hashing stays off the event loop; tokens and links are well-formed."""

import string
import threading

import bcrypt
import pytest

from app.users import passwords, verification

pytestmark = pytest.mark.anyio

URLSAFE = frozenset(string.ascii_letters + string.digits + "-_")


async def test_hash_password_runs_bcrypt_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[int] = []
    real_hashpw = bcrypt.hashpw

    def recording_hashpw(password: bytes, salt: bytes) -> bytes:
        threads.append(threading.get_ident())
        return real_hashpw(password, salt)

    monkeypatch.setattr(bcrypt, "hashpw", recording_hashpw)

    hashed = await passwords.hash_password("correct horse", rounds=5)

    assert hashed.startswith("$2b$05$")
    assert threads
    assert threads[0] != threading.get_ident()


async def test_a_72_byte_password_hashes_and_only_it_matches() -> None:
    password = "é" * 36  # 72 bytes in UTF-8
    hashed = await passwords.hash_password(password, rounds=4)

    assert await passwords.verify_password(password, hashed)
    assert not await passwords.verify_password("é" * 35 + "e", hashed)


def test_tokens_are_random_and_url_safe() -> None:
    tokens = {verification.new_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(len(token) == 43 for token in tokens)
    assert all(set(token) <= URLSAFE for token in tokens)


def test_hash_token_is_hex_sha256() -> None:
    assert verification.hash_token("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.parametrize("base", ["https://app.example", "https://app.example/"])
def test_verification_url_ends_in_the_token(base: str) -> None:
    url = verification.verification_url(base, "tok-EN_1")

    assert url == "https://app.example/verify?token=tok-EN_1"
