"""``Outbox``: delivers rows (one attempt at a time) and schedules their delivery tasks.

Built once in the lifespan. Every attempt is recorded on the row: a retryable failure makes
it due again after a back-off, the last allowed attempt (or a refusal) marks it ``failed``
and stages one alert in the same transaction. Nothing is dropped silently.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients._base import RETRYABLE
from app.clients.alerts import AlertClient
from app.clients.email_service import EmailServiceClient
from app.clients.warehouse import WarehouseClient
from app.config import Settings
from app.db import SessionFactory, utcnow
from app.outbox import service
from app.outbox.models import OutboxKind, OutboxMessage
from app.outbox.service import NewMessage
from app.sweeper import SweepJob
from fastapi_tasks import ConfiguredScheduler, TaskBatch

logger = logging.getLogger(__name__)

# How long one attempt may hold a row before another may take it.
LEASE = timedelta(seconds=30)
# The delivery task's own retries (the seed's "3 retries with back-off"); later attempts
# are the sweeper's, further apart, until the row's budget is spent.
TASK_RETRIES = 3
MAX_BACKOFF_S = 300.0


def _held(message: OutboxMessage, now: datetime) -> bool:
    # Room for one attempt (the clients' timeouts are far shorter) before the lease ends.
    return message.locked_until is not None and message.locked_until - LEASE / 2 > now


def idempotency_key(message_id: int) -> str:
    """The key every delivery of one row carries: repeats reach the receiver once."""
    return f"outbox-{message_id}"


def describe(error: BaseException) -> str:
    """The exception type (and HTTP status): never its message, which may hold URLs."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status is None:
        status = getattr(error, "status_code", None)
    name = type(error).__name__
    return name if status is None else f"{name} (HTTP {status})"


def alert(
    text: str,
    *,
    source: str,
    subject_type: str | None = None,
    subject_id: int | None = None,
    severity: str = "error",
) -> NewMessage:
    """An alert for the operators, delivered through the outbox (so it is never lost)."""
    return NewMessage(
        kind=OutboxKind.ALERT,
        topic="alert",
        payload={"text": text, "severity": severity, "source": source},
        subject_type=subject_type,
        subject_id=subject_id,
    )


@dataclass(frozen=True, slots=True)
class Outbox:
    """Delivery of outbox rows to the e-mail service, the warehouse and the alert webhook."""

    sessions: SessionFactory
    email: EmailServiceClient
    warehouse: WarehouseClient
    alerts: AlertClient
    # Attempts per row in all (task and sweeper together); then it is failed for good.
    max_attempts: int = 4
    retry_delay_s: float = 1.0

    @classmethod
    def over(
        cls, http: httpx.AsyncClient, settings: Settings, sessions: SessionFactory
    ) -> "Outbox":
        """The outbox delivering through ``http`` to the systems ``settings`` names."""
        return cls(
            sessions=sessions,
            email=EmailServiceClient(http, settings.email_service),
            warehouse=WarehouseClient(http, settings.warehouse),
            alerts=AlertClient(http, settings.alerts),
            max_attempts=settings.outbox_max_attempts,
            retry_delay_s=settings.email_retry_delay_s,
        )

    def delivery_task(self, batch: TaskBatch, *, name: str) -> ConfiguredScheduler:
        """A task configuration for delivering rows: a few quick attempts, with back-off."""
        return batch.task(
            name=name,
            retries=min(TASK_RETRIES, self.max_attempts - 1),
            retry_delay=self.retry_delay_s,
            retry_backoff=2.0,
            retry_on=RETRYABLE,
        )

    def new_lease(self) -> datetime:
        """When a lease taken now ends: for rows born claimed (``service.add``)."""
        return utcnow() + LEASE

    def backoff_s(self, attempts: int) -> float:
        """How long a row waits after its ``attempts``-th failure (doubling, capped)."""
        return min(self.retry_delay_s * 2.0 ** (attempts - 1), MAX_BACKOFF_S)

    async def deliver_pending(
        self, *, subject_type: str, subject_id: int, kind: OutboxKind | None = None
    ) -> int:
        """Deliver a subject's pending rows; raise the first retryable error after trying all."""
        async with self.sessions() as session:
            ids = await service.pending_ids(
                session, subject_type=subject_type, subject_id=subject_id, kind=kind
            )
        return await self.deliver_all(ids)

    def sweep_job(self) -> SweepJob:
        """For the sweeper: rows whose task is gone, delivered one attempt at a time."""

        async def due(orphaned_before: datetime | None) -> Sequence[int]:
            async with self.sessions() as session:
                return await service.due_ids(
                    session, now=utcnow(), orphaned_before=orphaned_before, limit=200
                )

        async def finish(message_id: int, orphaned: bool) -> bool:
            return await self.deliver(message_id, ignore_lease=orphaned) == 1

        return SweepJob("outbox", due, finish)

    async def deliver_all(self, messages: Iterable[int | OutboxMessage]) -> int:
        """Deliver these rows in order; raise the first retryable error after trying all."""
        sent = 0
        first_error: Exception | None = None
        for message in messages:
            try:
                sent += await self.deliver(message)
            except Exception as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return sent

    async def deliver(
        self, row_or_id: int | OutboxMessage, *, ignore_lease: bool = False
    ) -> int:
        """One attempt at one row: 1 if sent now, 0 if it was not ours to send.

        Takes the row's id, or the row itself as this process wrote it: if it was born
        claimed and the lease still runs, this attempt is the one the lease was for and
        claims nothing; otherwise only its attempt count is read back. Raises the
        delivery's error after recording it, so a task's retries apply.
        """
        async with self.sessions() as session:
            now = utcnow()
            message: OutboxMessage | None
            if isinstance(row_or_id, OutboxMessage) and _held(row_or_id, now):
                message = row_or_id
            else:
                message = await service.claim(
                    session, row_or_id, now=now, lease=LEASE, ignore_lease=ignore_lease
                )
            if message is None:  # sent, failed, or another attempt holds it
                return 0
            try:
                await self._send(message)
            except Exception as exc:
                # The failure releases the lease: a retry must claim the row again.
                message.locked_until = None
                follow_up = await self._record_failure(session, message, exc)
                if follow_up is not None:
                    await self._deliver_quietly(follow_up.id)
                raise
            await service.mark_sent(session, message, now=utcnow())
        logger.info("outbox %s sent (%s %s)", message.id, message.kind, message.topic)
        return 1

    async def _send(self, message: OutboxMessage) -> None:
        key = idempotency_key(message.id)
        payload = message.payload
        if message.kind == OutboxKind.EMAIL:
            await self.email.send(
                to=payload["to"],
                subject=payload["subject"],
                template=payload["template"],
                data=payload.get("data") or {},
                idempotency_key=key,
            )
        elif message.kind == OutboxKind.WAREHOUSE:
            await self.warehouse.prepare_shipment(
                order_id=payload["order_id"],
                items=payload["items"],
                idempotency_key=key,
            )
        elif message.kind == OutboxKind.ALERT:
            await self.alerts.send(
                text=payload["text"],
                severity=payload.get("severity", "error"),
                source=payload.get("source", "demo"),
                idempotency_key=key,
            )
        else:
            raise ValueError(f"unknown outbox kind {message.kind!r}")

    async def _deliver_quietly(self, message_id: int) -> None:
        # Right away if possible; if not, the row is recorded and the sweeper retries it.
        try:
            await self.deliver(message_id)
        except Exception:
            return

    async def _record_failure(
        self, session: AsyncSession, message: OutboxMessage, error: Exception
    ) -> OutboxMessage | None:
        attempts = message.attempts + 1
        now = utcnow()
        final = not isinstance(error, RETRYABLE) or attempts >= self.max_attempts
        reason = describe(error)
        retry_at = None if final else now + timedelta(seconds=self.backoff_s(attempts))
        follow_up = None
        if final and message.kind != OutboxKind.ALERT:
            about = (
                f" for {message.subject_type} {message.subject_id}"
                if message.subject_type
                else ""
            )
            follow_up = alert(
                f"Outbox message {message.id} ({message.kind} {message.topic}{about}) "
                f"failed for good after {attempts} attempt(s): {reason}",
                source="outbox",
                subject_type=message.subject_type,
                subject_id=message.subject_id,
            )
        staged = await service.record_failure(
            session, message, error=reason, retry_at=retry_at, alert=follow_up, now=now
        )
        if not final:
            logger.warning(
                "outbox %s attempt %d failed: %s", message.id, attempts, reason
            )
        elif follow_up is None:
            # An alert that cannot be delivered has nobody left to tell but the log.
            logger.critical(
                "outbox %s: alert not delivered after %d attempt(s): %s",
                message.id,
                attempts,
                reason,
            )
        else:
            logger.error(
                "outbox %s (%s %s) failed for good after %d attempt(s): %s",
                message.id,
                message.kind,
                message.topic,
                attempts,
                reason,
            )
        return staged
