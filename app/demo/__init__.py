"""Mock-mode extras (``router`` is mounted only in mock mode): none of the four examples.

- ``views``: ``/demo/...`` JSON views of the fake systems and the task registry
- ``cdn_files``: ``/demo/cdn/...``, the files the fake CDN stored
- ``dashboard``: ``/``, the live dashboard page (``dashboard.html``)
"""

from fastapi import APIRouter

from app.demo import cdn_files, dashboard, views

router = APIRouter()
router.include_router(views.router)
router.include_router(cdn_files.router)
router.include_router(dashboard.router)

__all__ = ["router"]
