"""The live demo dashboard served at ``/`` in mock mode (one self-contained HTML page)."""

from app.dashboard.router import router

__all__ = ["router"]
