"""What POST /register accepts: the rules behind its 422s."""

from typing import Any

import pytest
from pydantic import ValidationError

from app.users.schemas import UserCreate

VALID: dict[str, Any] = {
    "email": "ada@example.com",
    "password": "correct horse",
    "name": "Ada",
}


def errors_for(**changes: Any) -> list[tuple[Any, ...]]:
    try:
        UserCreate.model_validate({**VALID, **changes})
    except ValidationError as exc:
        return [error["loc"] for error in exc.errors()]
    return []


@pytest.mark.parametrize(
    "password",
    ["12345678", "é" * 8, "x" * 72, "é" * 36, "😀" * 18],
)
def test_passwords_of_8_chars_up_to_72_bytes_are_accepted(password: str) -> None:
    assert errors_for(password=password) == []


@pytest.mark.parametrize(
    "password",
    ["", "1234567", "x" * 73, "é" * 37, "😀" * 19, "abcdefg\ud800", "pass\x00word"],
)
def test_passwords_too_short_too_long_or_not_text_are_refused(password: str) -> None:
    assert errors_for(password=password) == [("password",)]


def test_the_byte_limit_error_never_contains_the_password() -> None:
    secret = "é" * 37
    with pytest.raises(ValidationError) as caught:
        UserCreate.model_validate({**VALID, "password": secret})

    error = caught.value.errors()[0]
    assert secret not in error["msg"]
    assert "72 bytes" in error["msg"]


@pytest.mark.parametrize("name", ["", " ", "\t\n", "x" * 101, "A\ud800", "A\x00"])
def test_blank_overlong_or_broken_names_are_refused(name: str) -> None:
    assert errors_for(name=name) == [("name",)]


def test_names_are_trimmed() -> None:
    assert UserCreate.model_validate({**VALID, "name": "  Ada  "}).name == "Ada"


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "a\ud800@example.com",
        "a\x00@example.com",
        "ada@example.test",
        "ada@printer.local",
    ],
)
def test_invalid_addresses_are_refused(email: str) -> None:
    assert errors_for(email=email) == [("email",)]


def test_the_domain_of_an_address_is_lowercased() -> None:
    body = UserCreate.model_validate({**VALID, "email": "Ada@EXAMPLE.com"})

    assert body.email == "Ada@example.com"
