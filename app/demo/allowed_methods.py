"""``OPTIONS`` and 405 answers that name every method of a path, not just one route's.

Starlette answers a method no route of a path accepts with the ``Allow`` header of the first
route it found for that path: ``GET /demo/faults`` and ``PUT /demo/faults`` are two routes,
so ``OPTIONS /demo/faults`` said ``Allow: GET`` and hid the ``PUT``.
"""

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.routing import APIRoute

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _answer(allow: str) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(
                status_code=status.HTTP_204_NO_CONTENT, headers={"Allow": allow}
            )
        raise HTTPException(
            status.HTTP_405_METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            headers={"Allow": allow},
        )

    return answer


def answer_every_method(router: APIRouter) -> None:
    """Give each path of ``router`` one route for the methods none of its routes accept.

    Call it after the router's own routes are declared (they are matched first).
    """
    methods: dict[str, set[str]] = {}
    for route in router.routes:
        if isinstance(route, APIRoute):
            methods.setdefault(route.path, set()).update(route.methods or ())
    for path, accepted in methods.items():
        allow = ", ".join(sorted(accepted | {"OPTIONS"}))
        router.add_api_route(
            path.removeprefix(router.prefix),
            _answer(allow),
            methods=[m for m in METHODS if m not in accepted],
            include_in_schema=False,
        )
