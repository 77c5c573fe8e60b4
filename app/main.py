"""The application factory: ``create_app(settings)``."""

import logging
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from app.analytics.router import router as analytics_router
from app.body_timeout import BodyTimeoutMiddleware
from app.config import Settings, get_settings
from app.demo import router as demo_router
from app.docs_ui import install_offline_docs
from app.errors import register_error_handlers
from app.images.router import router as images_router
from app.lifespan import lifespan_for
from app.logging_setup import RequestIdMiddleware
from app.mocks import FakeServices
from app.orders.router import router as orders_router
from app.outbox.router import router as outbox_router
from app.task_logging import log_task_failure
from app.users.router import router as users_router
from fastapi_tasks import TaskConfig, add_tasks

logger = logging.getLogger(__name__)

health_router = APIRouter(tags=["operations"])


class HealthRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"]


@health_router.get("/health", summary="Liveness check (touches no external system)")
async def health() -> HealthRead:
    return HealthRead(status="ok")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # pydantic echoes the offending input; for a missing field that is the whole body,
    # payment token and password included. Keep location, message and type only.
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


def register_fallback_handlers(app: FastAPI) -> None:
    """422s without echoed input, and JSON (never HTML) for unexpected errors."""

    @app.exception_handler(RequestValidationError)
    async def _render_validation_error(
        _: Request, exc: RequestValidationError
    ) -> JSONResponse:
        return JSONResponse(
            {"detail": _validation_errors(exc)},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(Exception)
    async def _render_unexpected_error(
        request: Request, exc: Exception
    ) -> JSONResponse:
        logger.error(
            "unhandled %s on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
        )
        return JSONResponse(
            {"detail": "Internal server error; the error was logged"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """A fully wired app; tests pass their own settings, the server reads the environment."""
    settings = settings or get_settings()
    fakes = (
        FakeServices(
            settings.data_dir / "fakes.db", payment_slow_s=settings.fake_payment_slow_s
        )
        if settings.mode == "mock"
        else None
    )
    app = FastAPI(
        title="fastapi-tasks demo shop",
        version="0.1.0",
        summary="Real-world background tasks: orders, registration, images, analytics",
        lifespan=lifespan_for(settings, fakes),
        docs_url=None,  # /docs and /redoc are served offline by install_offline_docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.fakes = fakes
    # The task group nests inside our lifespan: tasks drain before the client and engine close.
    add_tasks(
        app,
        config=TaskConfig(on_error=log_task_failure),
        shutdown_timeout=settings.shutdown_timeout_s,
    )
    register_error_handlers(app)
    register_fallback_handlers(app)
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.request_body_timeout_s)
    app.add_middleware(RequestIdMiddleware)  # outermost: every line has the request id

    app.include_router(health_router)
    app.include_router(orders_router)
    app.include_router(users_router)
    app.include_router(analytics_router)
    app.include_router(images_router)
    app.include_router(outbox_router)
    if settings.mode == "mock":
        app.include_router(demo_router)
    install_offline_docs(app)
    return app
