"""Password hashing with bcrypt, always in a worker thread.

bcrypt is deliberately slow CPU work (~0.25 s at the default 12 rounds): called from
``async def`` it would freeze every other request for that long, as the seed does.
bcrypt 5 refuses inputs over 72 bytes, so the request schema rejects them first (422).
"""

from functools import partial

import anyio.to_thread
import bcrypt

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_BYTES = 72  # bcrypt's limit, in UTF-8 bytes, not characters


async def hash_password(plain: str, *, rounds: int) -> str:
    """The bcrypt hash of ``plain`` (``$2b$...``), computed off the event loop."""
    salt = bcrypt.gensalt(rounds)
    hashed = await anyio.to_thread.run_sync(bcrypt.hashpw, plain.encode(), salt)
    return hashed.decode()


async def verify_password(plain: str, password_hash: str) -> bool:
    """Whether ``plain`` matches ``password_hash``, computed off the event loop."""
    check = partial(bcrypt.checkpw, plain.encode(), password_hash.encode())
    return await anyio.to_thread.run_sync(check)
