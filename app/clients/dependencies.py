"""Annotated dependencies that hand routes the objects built by the lifespan."""

from typing import Annotated

from fastapi import Depends, Request

from app.analytics.tracking import EventTracker
from app.clients.analytics_api import AnalyticsApiClient
from app.clients.cdn import CdnClient
from app.config import Settings


def get_settings_from_state(request: Request) -> Settings:
    """The settings the app was built with (not necessarily the environment's)."""
    settings: Settings = request.state.settings
    return settings


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
AnalyticsApiDep = Annotated[AnalyticsApiClient, Depends(get_analytics_api)]
TrackerDep = Annotated[EventTracker, Depends(get_tracker)]
CdnDep = Annotated[CdnClient, Depends(get_cdn)]
