"""Outbox rows in and out of the database; callers own the surrounding transaction.

``add`` never commits: it joins the caller's transaction, so the row exists exactly when
the state change that promised it does. The other functions commit their own small writes.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import execute_core, utcnow
from app.outbox.models import OutboxKind, OutboxMessage, OutboxStatus

# Payload values that must not outlive the delivery (the verification link carries the
# only plaintext copy of its token); replaced once the row is sent, failed or superseded.
SECRET_DATA_KEYS = frozenset({"verification_url"})
SCRUBBED = "***removed***"

# How long the task scheduled with a new row has before the sweeper may deliver it too
# (harmless if both do: the receiver dedupes on the key).
HANDOFF = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What to promise: a kind, a topic for readers, the payload, and whom it concerns."""

    kind: OutboxKind
    topic: str
    payload: dict[str, Any]
    subject_type: str | None = None
    subject_id: int | None = None


def add(
    session: AsyncSession,
    message: NewMessage,
    *,
    now: datetime | None = None,
    handoff: timedelta = HANDOFF,
    leased_until: datetime | None = None,
) -> OutboxMessage:
    """Stage a row in the caller's transaction (not committed here).

    It is due for the sweeper only after ``handoff``: until then the task scheduled with
    it is expected to deliver it. ``leased_until``: the row is born claimed, for a caller
    that hands the row itself to its delivery task (whose first attempt then needs no
    claim; nobody else may take the row before the lease ends).
    """
    now = now or utcnow()
    row = OutboxMessage(
        kind=message.kind,
        topic=message.topic,
        payload=message.payload,
        subject_type=message.subject_type,
        subject_id=message.subject_id,
        status=OutboxStatus.PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now + handoff,
        locked_until=leased_until,
    )
    session.add(row)
    return row


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


_UNLEASED = or_(
    OutboxMessage.locked_until.is_(None),
    OutboxMessage.locked_until < bindparam("now"),
)
_CLAIM_ANY = (
    update(OutboxMessage)
    .where(
        OutboxMessage.id == bindparam("message_id"),
        OutboxMessage.status == OutboxStatus.PENDING,
    )
    .values(locked_until=bindparam("until"))
)
_CLAIM = _CLAIM_ANY.where(_UNLEASED)
_ATTEMPTS = select(OutboxMessage.attempts).where(
    OutboxMessage.id == bindparam("message_id")
)


async def claim(
    session: AsyncSession,
    message: int | OutboxMessage,
    *,
    now: datetime,
    lease: timedelta,
    ignore_lease: bool = False,
) -> OutboxMessage | None:
    """Take a pending row for one delivery attempt; None if it is sent, failed or taken.

    One conditional UPDATE (built once, run as Core), so of a task and a sweeper racing
    for a row only one wins; the winner reads the row in the same transaction: all of
    it when given an id, only its attempt count when given the row itself (one this
    process wrote, whose other columns never change).
    ``ignore_lease`` is for the startup sweep: leases held then belong to a dead process.
    """
    message_id = message if isinstance(message, int) else message.id
    result = await execute_core(
        session,
        _CLAIM_ANY if ignore_lease else _CLAIM,
        {"message_id": message_id, "now": now, "until": now + lease},
    )
    row = None
    if result.rowcount == 1:
        if isinstance(message, int):
            row = await session.get(OutboxMessage, message_id, populate_existing=True)
        else:
            params = {"message_id": message_id}
            attempts = await execute_core(session, _ATTEMPTS, params)
            message.attempts = attempts.scalar_one()
            row = message
    # Give the connection back before the caller's network call: a burst of slow
    # deliveries must not pin the pool.
    await session.commit()
    return row


async def supersede(
    session: AsyncSession,
    *,
    subject_type: str,
    subject_id: int,
    topic: str,
    now: datetime,
) -> None:
    """Retire a subject's pending rows of ``topic`` in the caller's transaction.

    For a message a newer one replaces (an e-mail whose link was just revoked): sending
    it later would only deliver a dead link. A row in flight right now is left alone.
    """
    rows = await session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.subject_type == subject_type,
            OutboxMessage.subject_id == subject_id,
            OutboxMessage.topic == topic,
            OutboxMessage.status == OutboxStatus.PENDING,
            or_(
                OutboxMessage.locked_until.is_(None),
                OutboxMessage.locked_until < now,
            ),
        )
    )
    for row in rows:
        row.status = OutboxStatus.SUPERSEDED
        row.payload = _scrubbed(row.payload)


def _scrubbed(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    if not isinstance(data, dict) or not SECRET_DATA_KEYS & data.keys():
        return payload
    return {
        **payload,
        "data": {
            key: SCRUBBED if key in SECRET_DATA_KEYS else value
            for key, value in data.items()
        },
    }


_MARK_SENT = (
    update(OutboxMessage)
    .where(OutboxMessage.id == bindparam("message_id"))
    .values(
        status=OutboxStatus.SENT,
        attempts=OutboxMessage.attempts + 1,
        sent_at=bindparam("now"),
        locked_until=None,
        last_error=None,
        payload=bindparam("payload"),
    )
)


async def mark_sent(
    session: AsyncSession, message: OutboxMessage, *, now: datetime
) -> None:
    """Record a delivery the receiver accepted."""
    await execute_core(
        session,
        _MARK_SENT,
        {"message_id": message.id, "now": now, "payload": _scrubbed(message.payload)},
    )
    await session.commit()


async def record_failure(
    session: AsyncSession,
    message: OutboxMessage,
    *,
    error: str,
    retry_at: datetime | None,
    alert: NewMessage | None = None,
    now: datetime,
) -> OutboxMessage | None:
    """Count a failed attempt: due again at ``retry_at``, or ``failed`` for good if None.

    A row that fails for good adds its ``alert`` in the same transaction (returned).
    """
    values: dict[str, Any] = {
        "attempts": OutboxMessage.attempts + 1,
        "locked_until": None,
        "last_error": error[:200],
    }
    if retry_at is None:
        values.update(status=OutboxStatus.FAILED, payload=_scrubbed(message.payload))
    else:
        values["next_attempt_at"] = retry_at
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    follow_up = None
    if retry_at is None and alert is not None:
        follow_up = add(session, alert, now=now, handoff=timedelta(0))
    await session.commit()
    return follow_up


async def due_ids(
    session: AsyncSession,
    *,
    now: datetime,
    orphaned_before: datetime | None,
    limit: int,
) -> Sequence[int]:
    """Pending rows the sweeper should deliver, oldest first.

    With ``orphaned_before`` (the startup sweep passes the process's start), every pending
    row created before it is due, lease or not: its task died with the previous process.
    Rows this process created are left to their tasks.
    """
    query = select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.PENDING)
    if orphaned_before is not None:
        query = query.where(OutboxMessage.created_at < orphaned_before)
    else:
        query = query.where(
            OutboxMessage.next_attempt_at <= now,
            or_(
                OutboxMessage.locked_until.is_(None),
                OutboxMessage.locked_until < now,
            ),
        )
    return (await session.scalars(query.order_by(OutboxMessage.id).limit(limit))).all()


async def pending_ids(
    session: AsyncSession,
    *,
    subject_type: str,
    subject_id: int,
    kind: OutboxKind | None = None,
) -> Sequence[int]:
    """Pending rows about one order or user (optionally of one kind), oldest first."""
    query = select(OutboxMessage.id).where(
        OutboxMessage.subject_type == subject_type,
        OutboxMessage.subject_id == subject_id,
        OutboxMessage.status == OutboxStatus.PENDING,
    )
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return (await session.scalars(query.order_by(OutboxMessage.id))).all()


async def for_subject(
    session: AsyncSession, *, subject_type: str, subject_id: int
) -> Sequence[OutboxMessage]:
    """Every row about one order or user, oldest first (for GET /orders/{id} etc.)."""
    return (
        await session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.subject_type == subject_type,
                OutboxMessage.subject_id == subject_id,
            )
            .order_by(OutboxMessage.id)
        )
    ).all()


async def recent(
    session: AsyncSession, *, limit: int, status: OutboxStatus | None = None
) -> Sequence[OutboxMessage]:
    """The newest rows (optionally of one status), newest first."""
    query = select(OutboxMessage)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    return (
        await session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit))
    ).all()


async def counts(session: AsyncSession) -> dict[str, int]:
    """How many rows are pending, sent and failed."""
    rows = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    found = {str(status): int(count) for status, count in rows.all()}
    return {status.value: found.get(status.value, 0) for status in OutboxStatus}
