"""The one form addresses are compared in (uniqueness and resend), and what is refused."""

import pytest
from pydantic import TypeAdapter, ValidationError

from app.email_address import EmailAddress, comparison_form
from app.users.service import normalize_email
from tests.users.unicode_forms import full_width

ADDRESS = TypeAdapter(EmailAddress)


@pytest.mark.parametrize(
    ("typed", "compared"),
    [
        ("full@example.com", "full@example.com"),
        (
            full_width("full") + "@example.com",
            "full@example.com",
        ),  # NFKC: full-width letters
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("STRASSE@example.com", "strasse@example.com"),
        ("straße@example.com", "strasse@example.com"),  # casefold, not lower
        ("ada@bücher.de", "ada@xn--bcher-kva.de"),  # IDNA: one spelling per domain
        ("ada@XN--BCHER-KVA.de", "ada@xn--bcher-kva.de"),
        ("ada@example.com.", "ada@example.com"),
    ],
)
def test_comparison_form(typed: str, compared: str) -> None:
    assert comparison_form(typed) == compared


def test_registration_compares_in_the_comparison_form() -> None:
    assert normalize_email(full_width("full") + "@example.com") == normalize_email(
        "full@example.com"
    )


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.test",
        "ada@printer.local",
        "ada@localhost",
        "ada@host.INVALID",
        "a\x00@example.com",
        "a\ud800@example.com",
    ],
)
def test_special_use_domains_nul_and_lone_surrogates_are_refused(address: str) -> None:
    with pytest.raises(ValidationError):
        ADDRESS.validate_python(address)


def test_the_schema_pattern_refuses_what_the_validator_refuses() -> None:
    import re

    pattern = re.compile(ADDRESS.json_schema()["pattern"])
    for refused in ("ada@example.test", "ada@x.LOCAL", "ada@localhost", "a\x00@b.com"):
        assert not pattern.match(refused)
    for accepted in ("ada@example.com", "ada@testing.com", "ada@test.example.org"):
        assert pattern.match(accepted)
        ADDRESS.validate_python(accepted)


def test_an_address_whose_comparison_form_would_not_fit_is_refused() -> None:
    # 72 bytes as typed; NFKC turns each U+FDFA into 18 characters (372 in all), more
    # than the 254 the comparison column holds (PostgreSQL would refuse it: a 500).
    address = "\ufdfa" * 20 + "@example.com"

    with pytest.raises(ValidationError, match="too long once normalised"):
        ADDRESS.validate_python(address)
    ADDRESS.validate_python("\ufdfa" * 13 + "@example.com")  # 13 * 18 + 12 = 246: fine
