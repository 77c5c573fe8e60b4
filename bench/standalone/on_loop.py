"""``serve`` with bcrypt and Pillow run on the event loop, as the original examples do.

Only for ``bench/loop_health.py``: the same service, except that the password hashing of
``app.users.passwords`` and the image work of ``app.images.router``/``app.images.tasks``
call their function inline instead of in a worker thread. Everything else is unchanged.
"""

import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any


async def _inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
    return func(*args)  # blocks the loop for as long as the work takes


def _patch() -> None:
    import app.images.router
    import app.images.tasks
    import app.users.passwords

    on_loop = SimpleNamespace(to_thread=SimpleNamespace(run_sync=_inline))
    for module in (app.users.passwords, app.images.router, app.images.tasks):
        module.anyio = on_loop  # type: ignore[attr-defined]


if __name__ == "__main__":
    _patch()
    from app.cli import main

    main(sys.argv[1:])
