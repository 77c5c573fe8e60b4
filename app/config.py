"""Settings, read from the environment (nested groups use ``GROUP__FIELD``)."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceConfig(BaseModel):
    """Where one external system lives and how to authenticate to it."""

    base_url: str
    api_key: SecretStr = SecretStr("")
    timeout_s: float = Field(default=5.0, gt=0)


# One subclass per system so that setting only e.g. PAYMENT_GATEWAY__API_KEY keeps the
# default base URL (a nested env value replaces a plain default model wholesale).
class PaymentGatewayConfig(ServiceConfig):
    base_url: str = "https://payments.mock"


class EmailServiceConfig(ServiceConfig):
    base_url: str = "https://email.mock"


class WarehouseConfig(ServiceConfig):
    base_url: str = "https://warehouse.mock"


class AnalyticsServiceConfig(ServiceConfig):
    base_url: str = "https://analytics.mock"


class AlertsConfig(ServiceConfig):
    base_url: str = "https://alerts.mock"


class CdnConfig(ServiceConfig):
    base_url: str = "https://cdn.mock"


class Settings(BaseSettings):
    """Every knob of the service; the README's configuration table is checked against it."""

    model_config = SettingsConfigDict(
        env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    mode: Literal["mock", "live"] = Field(
        default="mock",
        description="mock: external systems are emulated in-process; live: real URLs are called",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./data/app.db",
        description="SQLAlchemy async URL of the database",
    )
    data_dir: Path = Field(
        default=Path("data"), description="Where the demo keeps its files"
    )
    upload_dir: Path = Field(
        default=Path("data/uploads"),
        description="Where uploads are written (under generated names) while processed",
    )
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="Largest accepted upload (413 above)",
    )
    image_max_pixels: int = Field(
        default=50_000_000,
        gt=0,
        description="Largest accepted image in pixels (decompression bombs are 415)",
    )
    image_jobs_limit: int = Field(
        default=2, gt=0, description="Image processing jobs running at once"
    )
    bcrypt_rounds: int = Field(
        default=12, ge=4, le=31, description="bcrypt cost factor"
    )
    verification_ttl_hours: float = Field(
        default=24, gt=0, description="How long an e-mail verification link stays valid"
    )
    email_retry_delay_s: float = Field(
        default=1.0,
        ge=0,
        description="Delay before the first retry of a failed e-mail (doubles per retry)",
    )
    outbox_max_attempts: int = Field(
        default=4,
        ge=1,
        description="Delivery attempts per promised e-mail, shipment or alert before it is marked failed and alerted (the seed's 1 + 3 retries; raise it to ride out longer outages: attempts after the 4th are the sweeper's, the delay doubling up to 5 min)",
    )
    sweep_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often the sweeper delivers outbox rows whose task died and re-drives stuck orders (it also runs at startup)",
    )
    order_stuck_after_s: float = Field(
        default=60.0,
        gt=0,
        description="An order still processing this long after its last change is re-driven by the sweeper",
    )
    fake_payment_slow_s: float = Field(
        default=2.0,
        ge=0,
        description="Mock mode: how long the fake gateway takes to answer under the 'slow' fault",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base of the links the service hands out (verification e-mails, image URLs); `serve` points it at its own --host/--port unless set",
    )
    analytics_batch_size: int = Field(
        default=10, gt=0, description="Events per user that trigger a flush"
    )
    analytics_flush_interval_s: float = Field(
        default=5.0, gt=0, description="Oldest buffered event age that triggers a flush"
    )
    analytics_buffer_cap: int = Field(
        default=10_000,
        gt=0,
        description="Most events held in memory in total before flushing early",
    )
    shutdown_timeout_s: float = Field(
        default=30.0, gt=0, description="How long shielded tasks may run at shutdown"
    )
    request_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest a client may take to send a request body, from its arrival (408 after)",
    )
    log_level: str = Field(default="INFO", description="Log level of the service")

    payment_gateway: PaymentGatewayConfig = Field(
        default_factory=PaymentGatewayConfig, description="payment gateway"
    )
    email_service: EmailServiceConfig = Field(
        default_factory=EmailServiceConfig, description="e-mail service"
    )
    warehouse: WarehouseConfig = Field(
        default_factory=WarehouseConfig, description="warehouse API"
    )
    analytics_service: AnalyticsServiceConfig = Field(
        default_factory=AnalyticsServiceConfig, description="analytics service"
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="alert webhook"
    )
    cdn: CdnConfig = Field(default_factory=CdnConfig, description="CDN")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


async def get_settings_from_state(request: Request) -> Settings:
    """The settings the app was built with (a test's own), not the environment's."""
    settings: Settings = request.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_from_state)]
