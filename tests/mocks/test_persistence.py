"""The fakes' state lives in their SQLite file: a restart or a second worker sees it all."""

import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.mocks import FakeServices
from tests.mocks.helpers import (
    EMAIL,
    PAYMENTS,
    WAREHOUSE,
    a_charge,
    a_mail,
    key,
    talking_to,
)

pytestmark = pytest.mark.anyio


def test_nothing_is_opened_until_first_use(tmp_path: Path) -> None:
    path = tmp_path / "not-yet" / "fakes.db"
    fakes = FakeServices(path)
    assert not path.parent.exists()  # building the app does no I/O

    assert fakes.faults.payment == "ok"

    assert path.exists()  # the parent dir is created on open
    fakes.close()


def test_in_memory_fakes_are_private(tmp_path: Path) -> None:
    one, other = FakeServices(), FakeServices()
    one.set_faults(email="down")
    assert (one.faults.email, other.faults.email) == ("down", "ok")
    assert list(tmp_path.iterdir()) == []


def test_faults_are_a_snapshot_changed_only_through_set_faults(
    fakes: FakeServices,
) -> None:
    snapshot = fakes.faults
    with pytest.raises(ValidationError):
        snapshot.email = "down"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        fakes.set_faults(email="sometimes")
    with pytest.raises(ValidationError):
        fakes.set_faults(printer="down")

    changed = fakes.set_faults(payment="lost_answer", email="flaky")

    assert changed == fakes.faults
    assert (changed.payment, changed.email, changed.cdn) == (
        "lost_answer",
        "flaky",
        "ok",
    )


async def test_a_restarted_server_sees_faults_calls_mails_and_charges(
    fakes: FakeServices, fake_settings: Settings, fakes_db: Path
) -> None:
    async with talking_to(fakes, fake_settings) as http:
        await http.post(f"{EMAIL}/send", json=a_mail(), headers=key("mail-1"))
        await http.post(f"{PAYMENTS}/charge", json=a_charge(7), headers=key("7"))
        await http.post(f"{WAREHOUSE}/prepare-shipment", json={"order_id": 7})
    fakes.set_faults(cdn="down")
    fakes.close()  # the server stops

    restarted = FakeServices(fakes_db)

    assert restarted.faults.cdn == "down"
    assert [c.service for c in restarted.calls] == ["email", "payment", "warehouse"]
    assert [(m["to"], m["idempotency_key"]) for m in restarted.outbox] == [
        ("ada@example.com", "mail-1")
    ]
    assert restarted.charges["7"][0] == 200
    assert [s.order_id for s in restarted.shipments] == [7]
    restarted.close()


async def test_two_workers_share_state_and_never_hand_out_the_same_id(
    fakes: FakeServices, fake_settings: Settings, fakes_db: Path
) -> None:
    other = FakeServices(fakes_db)
    async with (
        talking_to(fakes, fake_settings) as first,
        talking_to(other, fake_settings) as second,
    ):
        ids = []
        for order_id in range(1, 7):
            worker = first if order_id % 2 else second
            response = await worker.post(f"{PAYMENTS}/charge", json=a_charge(order_id))
            ids.append(response.json()["charge_id"])
        other.set_faults(warehouse="down")
        refused = await first.post(f"{WAREHOUSE}/prepare-shipment", json={})

    assert len(set(ids)) == 6
    assert refused.status_code == 503  # the fault set by the other worker applies
    assert len(fakes.calls_to("payment")) == len(other.calls_to("payment")) == 6
    other.close()


def test_the_file_uses_wal(fakes: FakeServices, fakes_db: Path) -> None:
    fakes.set_faults(email="down")
    with sqlite3.connect(fakes_db) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
