"""In-process fakes of every external system, installed as the shared client's transport.

``FakeServices`` holds their state (recorded calls, outbox, faults, CDN files); ``build_router``
returns a ``respx.Router`` whose ``async_handler`` is wrapped in ``httpx.MockTransport``.
Nothing is patched globally.
"""

from app.mocks.fakes import FakeServices, Faults, FaultsUpdate, RecordedCall, StoredFile
from app.mocks.router import build_router

__all__ = [
    "FakeServices",
    "Faults",
    "FaultsUpdate",
    "RecordedCall",
    "StoredFile",
    "build_router",
]
