"""Verification tokens: random, single-use, and stored only as a hash.

The token has 256 bits of entropy, so a plain SHA-256 is enough to make a leaked
database useless for verifying someone else's address (no salt or slow hash needed:
there is nothing to brute-force).
"""

import hashlib
import secrets
from urllib.parse import urlencode

TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh URL-safe token (43 characters) to put in the e-mailed link."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 of ``token``: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def verification_url(public_base_url: str, token: str) -> str:
    """The link the verification e-mail shows: ``<base>/verify?token=<token>``."""
    return f"{public_base_url.rstrip('/')}/verify?{urlencode({'token': token})}"
