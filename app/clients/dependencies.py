"""Annotated dependencies that hand routes the service clients built by the lifespan.

The settings (``app.config.SettingsDep``) and the event tracker
(``app.analytics.dependencies.TrackerDep``) live beside what they provide: clients sit
below analytics and import nothing from it.
"""

from typing import Annotated

from fastapi import Depends, Request

from app.clients.analytics_api import AnalyticsApiClient
from app.clients.cdn import CdnClient


async def get_analytics_api(request: Request) -> AnalyticsApiClient:
    """The analytics service client (tracking goes through ``TrackerDep``)."""
    client: AnalyticsApiClient = request.state.analytics_api
    return client


async def get_cdn(request: Request) -> CdnClient:
    """The CDN client (image uploads)."""
    client: CdnClient = request.state.cdn
    return client


AnalyticsApiDep = Annotated[AnalyticsApiClient, Depends(get_analytics_api)]
CdnDep = Annotated[CdnClient, Depends(get_cdn)]
