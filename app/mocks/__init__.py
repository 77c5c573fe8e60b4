"""In-process fakes of every external system, installed as the shared client's transport.

``FakeServices`` holds their state (faults, recorded calls, outbox, charges, shipments) in a
SQLite file of their own; ``build_router`` returns a ``respx.Router`` whose ``async_handler``
is wrapped in ``httpx.MockTransport``. Nothing is patched globally.
"""

from app.mocks.fakes import FakeServices
from app.mocks.router import UnrecordedRouter, build_router
from app.mocks.schemas import (
    ChargeRecord,
    Faults,
    FaultsUpdate,
    Payments,
    RecordedCall,
    RefundRecord,
    Shipment,
)

__all__ = [
    "ChargeRecord",
    "FakeServices",
    "Faults",
    "FaultsUpdate",
    "Payments",
    "RecordedCall",
    "RefundRecord",
    "Shipment",
    "UnrecordedRouter",
    "build_router",
]
