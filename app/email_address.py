"""The e-mail address the API accepts, and the one form addresses are compared in.

Accepted: what ``email-validator`` accepts without a DNS lookup. It refuses special-use
domains (``.test``, ``.local``, ``.invalid``, ``.localhost``, ``.arpa``, ``.onion``): mail
to them can never be delivered. The JSON schema says so with a ``pattern``, so a client
generating addresses from the OpenAPI document does not send one.

Compared (uniqueness, resend): ``comparison_form`` — the local part NFKC-normalised and
case-folded (``Ada``, ``ada`` and a full-width ``ada`` are one person), the domain in its ASCII
(IDNA) form, lower case (``bücher.de`` and ``xn--bcher-kva.de`` are one domain).
"""

import contextlib
import unicodedata
from typing import Annotated, Final

import email_validator
import idna
from pydantic import AfterValidator, EmailStr, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.text_input import NUL_FREE_PATTERN, StorableText

SPECIAL_USE_DOMAINS: Final = tuple(sorted(email_validator.SPECIAL_USE_DOMAIN_NAMES))


def _any_case(word: str) -> str:
    # JSON Schema regular expressions have no flags: spell each letter in both cases.
    return "".join(
        f"[{char.lower()}{char.upper()}]" if char.isalpha() else char for char in word
    )


# Not ending in "@<special>" or ".<special>", and no NUL anywhere.
EMAIL_PATTERN: Final = (
    "^(?!.*[@.](?:"
    + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAINS)
    + ")$)"
    + NUL_FREE_PATTERN.removeprefix("^")
)

# RFC 5321's limit, and the width of the column holding the comparison form.
MAX_LENGTH: Final = 254


def _comparable(email: str) -> str:
    # NFKC can lengthen a string a lot (U+FDFA alone becomes 18 characters): the form
    # compared must fit where it is stored, or the database refuses it (a 500).
    if len(comparison_form(email)) > MAX_LENGTH:
        raise PydanticCustomError(
            "email_too_long",
            "The e-mail address is too long once normalised for comparison "
            "(at most {limit} characters)",
            {"limit": MAX_LENGTH},
        )
    return email


EmailAddress = Annotated[
    EmailStr,
    AfterValidator(_comparable),
    StorableText(),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "pattern": EMAIL_PATTERN,
            "description": "An e-mail address; special-use domains ("
            + ", ".join(f".{name}" for name in SPECIAL_USE_DOMAINS)
            + ") are refused",
        }
    ),
]


def comparison_form(email: str) -> str:
    """The form two addresses are compared in: equal forms are the same mailbox for us."""
    local, _, domain = email.strip().rpartition("@")
    local = unicodedata.normalize("NFKC", local).casefold()
    domain = unicodedata.normalize("NFKC", domain).casefold().rstrip(".")
    # Validated addresses always encode; other input stays comparable as it is.
    with contextlib.suppress(idna.IDNAError):
        domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local}@{domain.lower()}"
