"""Dependencies of the users router: users named in the path (or 404s)."""

from typing import Annotated

from fastapi import Depends, Path

from app.db import SessionDep
from app.users import service
from app.users.exceptions import UserNotFoundError
from app.users.models import User

_MAX_ID = 2**63 - 1  # SQLite's INTEGER range; anything larger cannot exist


async def valid_user_id(
    user_id: Annotated[
        int, Path(description="The id from POST /register", examples=[1])
    ],
    session: SessionDep,
) -> User:
    """The user named by the path, or ``UserNotFoundError`` (404)."""
    if not 1 <= user_id <= _MAX_ID:
        raise UserNotFoundError
    return await service.get_user(session, user_id)


ExistingUser = Annotated[User, Depends(valid_user_id)]
