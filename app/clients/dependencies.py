"""Annotated dependencies that hand routes the objects built by the lifespan."""

from typing import Annotated

from fastapi import Depends, Request

from app.analytics.tracking import EventTracker
from app.clients.alerts import AlertClient
from app.clients.analytics_api import AnalyticsApiClient
from app.clients.cdn import CdnClient
from app.clients.email_service import EmailServiceClient
from app.clients.payment_gateway import PaymentGatewayClient
from app.clients.warehouse import WarehouseClient
from app.config import Settings


def get_settings_from_state(request: Request) -> Settings:
    """The settings the app was built with (not necessarily the environment's)."""
    settings: Settings = request.state.settings
    return settings


def get_payment_gateway(request: Request) -> PaymentGatewayClient:
    """The payment gateway client."""
    client: PaymentGatewayClient = request.state.payments
    return client


def get_email_service(request: Request) -> EmailServiceClient:
    """The e-mail service client."""
    client: EmailServiceClient = request.state.email
    return client


def get_warehouse(request: Request) -> WarehouseClient:
    """The warehouse client."""
    client: WarehouseClient = request.state.warehouse
    return client


def get_alerts(request: Request) -> AlertClient:
    """The alert webhook client."""
    client: AlertClient = request.state.alerts
    return client


def get_analytics_api(request: Request) -> AnalyticsApiClient:
    """The analytics service client (tracking goes through ``TrackerDep``)."""
    client: AnalyticsApiClient = request.state.analytics_api
    return client


def get_cdn(request: Request) -> CdnClient:
    """The CDN client (image uploads)."""
    client: CdnClient = request.state.cdn
    return client


def get_tracker(request: Request) -> EventTracker:
    """The app's event tracker: the only way examples send analytics."""
    tracker: EventTracker = request.state.tracker
    return tracker


SettingsDep = Annotated[Settings, Depends(get_settings_from_state)]
PaymentGatewayDep = Annotated[PaymentGatewayClient, Depends(get_payment_gateway)]
EmailServiceDep = Annotated[EmailServiceClient, Depends(get_email_service)]
WarehouseDep = Annotated[WarehouseClient, Depends(get_warehouse)]
AlertsDep = Annotated[AlertClient, Depends(get_alerts)]
AnalyticsApiDep = Annotated[AnalyticsApiClient, Depends(get_analytics_api)]
TrackerDep = Annotated[EventTracker, Depends(get_tracker)]
CdnDep = Annotated[CdnClient, Depends(get_cdn)]
