"""An order's background work, as one object built in the lifespan.

Timeline of one ``POST /orders`` (as in the seed, with the gaps closed):

- immediate, shielded: ``charge_payment`` (retried with the same Idempotency-Key while the
  outcome is unknown; ``on_error``: a decline is booked, a lost answer is asked for by key)
- after_route, shielded: ``reserve_stock`` (all or nothing)
- after_route, shielded: ``settle`` waits for both, refunds or releases the half that
  succeeded alone, and sets the final status in one transaction with what it promises:
  the customer's one e-mail and, if confirmed, the warehouse's shipment (outbox rows)
- after_response: ``send_order_email`` and ``notify_warehouse`` deliver those rows;
  analytics through the tracker

After a crash, ``resume`` runs the same steps for an order left ``processing``: the charge's
outcome is asked of the gateway by key (the token is never stored), the reservation and the
settlement are idempotent, and the sweeper delivers whatever the outbox still holds.
"""

import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

import httpx
from pydantic import SecretStr

from app.analytics.tracking import EventTracker
from app.clients.payment_gateway import PaymentDeclinedError, PaymentGatewayClient
from app.db import SessionFactory, utcnow
from app.orders import service
from app.orders.exceptions import OutOfStockError
from app.orders.models import Order, OrderStatus, PaymentStatus
from app.orders.settlement import (
    SUBJECT,
    decide,
    payment_failure_reason,
    promises,
)
from app.outbox import service as outbox_service
from app.outbox.delivery import Outbox, alert
from app.outbox.models import OutboxKind, OutboxMessage
from app.outbox.service import NewMessage
from app.sweeper import SweepJob
from fastapi_tasks import Task, TasksScheduler

logger = logging.getLogger(__name__)

# The gateway may have charged the card and lost the answer: these are worth the same
# request again (same key, so never a second charge). A 402 is an answer, not retried.
CHARGE_RETRY_ON: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    httpx.HTTPStatusError,
)
CHARGE_RETRIES = 2


def _alert(order_id: int, text: str, *, severity: str = "error") -> NewMessage:
    return alert(
        text,
        source="orders",
        subject_type=SUBJECT,
        subject_id=order_id,
        severity=severity,
    )


@dataclass(frozen=True, slots=True)
class Settled:
    """An order's final status, and the outbox rows the settling call wrote."""

    status: OrderStatus
    rows: tuple[OutboxMessage, ...] = ()

    def promised(self, kind: OutboxKind) -> list[OutboxMessage]:
        """The rows of ``kind`` to deliver, oldest first."""
        return [row for row in self.rows if row.kind == kind]


@dataclass(frozen=True, slots=True)
class OrderPipeline:
    """Charge, reserve, settle, notify: scheduled per request, resumed after a crash."""

    sessions: SessionFactory
    payments: PaymentGatewayClient
    outbox: Outbox
    tracker: EventTracker
    retry_delay_s: float = 1.0
    stuck_after: timedelta = timedelta(seconds=60)

    # -- the normal path --------------------------------------------------------------

    def schedule(
        self, tasks: TasksScheduler, *, order: Order, payment_token: SecretStr
    ) -> None:
        """Schedule the whole pipeline of a freshly committed order."""
        order_id = order.id
        # Shielded: once the card may be charged, the outcome must be recorded even at shutdown.
        payment = tasks.task(
            name="orders.charge_payment",
            shield=True,
            retries=CHARGE_RETRIES,
            retry_delay=self.retry_delay_s,
            retry_on=CHARGE_RETRY_ON,
            on_error=partial(self.on_payment_failed, order_id=order_id),
        ).schedule(
            self.charge_or_book_decline,
            order_id=order_id,
            amount=order.total,
            payment_token=payment_token,
        )
        reservation = tasks.after_route.task(
            name="orders.reserve_stock",
            shield=True,
            on_error=partial(self.on_stock_reservation_failed, order_id=order_id),
        ).schedule(
            self.reserve_or_book_shortage,
            order_id=order_id,
            quantities=service.line_quantities(order.lines),
        )
        settlement = tasks.after_route.task(
            name="orders.settle_order",
            shield=True,
            on_error=partial(self.on_settlement_failed, order_id=order_id),
        ).schedule(
            self.settle_when_done,
            order_id=order_id,
            payment=payment,
            reservation=reservation,
            placed=order,
        )
        for name, kind in (
            ("orders.send_order_email", OutboxKind.EMAIL),
            ("orders.notify_warehouse", OutboxKind.WAREHOUSE),
        ):
            self.outbox.delivery_task(tasks.after_response, name=name).schedule(
                self.deliver_when_settled,
                settlement=settlement,
                kind=kind,
            )
        tasks.after_response.task(name="orders.track_order_created").schedule(
            self.tracker.track,
            event="order_created",
            user_id=order.user_id,
            properties={
                "order_id": order_id,
                "total": str(order.total),
                "currency": order.currency,
                "items_count": len(order.lines),
            },
        )

    async def charge_payment(
        self, *, order_id: int, amount: Decimal, payment_token: SecretStr
    ) -> str:
        """Charge the order's total; the gateway dedupes on the order id. Returns the charge id."""
        charge = await self.payments.charge(
            order_id=order_id, amount=amount, token=payment_token
        )
        await self._record_charge(order_id, charge.charge_id, amount)
        return charge.charge_id

    async def charge_or_book_decline(
        self, *, order_id: int, amount: Decimal, payment_token: SecretStr
    ) -> str | None:
        """The charge task: a decline is an answer, booked here, not a task failure.

        A failed task is logged at ERROR with its traceback, which is for bugs; a declined
        card is an expected outcome (one INFO line). Gateway errors still raise: they are
        retried, then handled by ``on_payment_failed``.
        """
        try:
            return await self.charge_payment(
                order_id=order_id, amount=amount, payment_token=payment_token
            )
        except PaymentDeclinedError as declined:
            logger.info("order %s: payment declined (%s)", order_id, declined.code)
            await self._book_payment_failure(
                order_id, payment_failure_reason(declined), severity="warning"
            )
            return None

    async def reserve_stock(
        self, *, order_id: int, quantities: Sequence[tuple[int, int]] | None = None
    ) -> None:
        """Reserve every line in one transaction (raises ``OutOfStockError``); idempotent."""
        async with self.sessions() as session:
            await service.reserve_stock(session, order_id, quantities)

    async def reserve_or_book_shortage(
        self, *, order_id: int, quantities: Sequence[tuple[int, int]] | None = None
    ) -> None:
        """The reservation task: running out of stock is booked here, not a task failure.

        Selling out is a business outcome (one INFO line, no traceback: 1,500 orders for a
        sold-out product once wrote 9.5 MB of tracebacks). Other errors still raise and
        reach ``on_stock_reservation_failed``.
        """
        try:
            await self.reserve_stock(order_id=order_id, quantities=quantities)
        except OutOfStockError as shortage:
            logger.info(
                "order %s: out of stock (product %s)", order_id, shortage.product_id
            )
            await self._book_reservation_failure(order_id, shortage)

    async def settle_when_done(
        self, *, order_id: int, payment: Task, reservation: Task, placed: Order
    ) -> Settled | None:
        """Settle once payment and reservation both finished (and their handlers ran)."""
        await payment.wait()
        await reservation.wait()
        return await self.settlement(order_id=order_id, placed=placed, hand_over=True)

    async def deliver_when_settled(self, *, settlement: Task, kind: OutboxKind) -> int:
        """Deliver the ``kind`` rows the settlement wrote, once it committed them.

        Nothing if it failed or another settlement (the sweeper's) came first: then the
        rows are that one's to deliver, or the sweeper's.
        """
        await settlement.wait()
        settled: Settled | None = settlement.result
        if settled is None:
            return 0
        return await self.outbox.deliver_all(settled.promised(kind))

    # -- shared by both paths -----------------------------------------------------------

    async def settle(self, *, order_id: int) -> OrderStatus | None:
        """Decide and record the outcome once; None while the payment is still unknown."""
        settled = await self.settlement(order_id=order_id)
        return None if settled is None else settled.status

    async def settlement(
        self, *, order_id: int, placed: Order | None = None, hand_over: bool = False
    ) -> Settled | None:
        """``settle``, with the outbox rows this call wrote (none if it was settled before).

        ``placed`` is the order as the request stored it (its lines, e-mail and total never
        change): then only where it stands is read, not the whole order again.
        ``hand_over``: the caller hands the rows themselves to their delivery tasks, so
        they are born claimed (their first attempt claims nothing).
        """
        async with self.sessions() as session:
            if placed is None:
                order = await service.get_order(session, order_id)
                progress = service.Progress.of(order)
            else:
                order, progress = placed, await service.progress(session, order_id)
            # Hold no connection across the refund's network call.
            await session.commit()
            if progress.status != OrderStatus.PROCESSING:
                return Settled(OrderStatus(progress.status))
            decision = decide(progress.payment_status, progress.inventory_status)
            if decision is None:
                logger.warning(
                    "order %s not settled yet (payment %s, stock %s); "
                    "the sweeper resumes it",
                    order_id,
                    progress.payment_status,
                    progress.inventory_status,
                )
                return None
            alerts: list[NewMessage] = []
            refunded = False
            if decision.refund:
                refunded = await self._refund(order_id, progress.charge_id, order.total)
                if not refunded:
                    alerts.append(
                        _alert(
                            order_id,
                            f"Refund failed for order {order_id}: "
                            f"refund charge {progress.charge_id} by hand",
                        )
                    )
            promised = promises(
                order,
                decision.status,
                refunded=refunded,
                reason=progress.failure_reason,
            )
            rows = await service.settle(
                session,
                order_id,
                decision.status,
                release_stock=decision.release_stock,
                promises=promised,
                alerts=alerts,
                leased_until=self.outbox.new_lease() if hand_over else None,
            )
            if rows is None:  # a concurrent settlement (the sweeper's, say) came first
                progress = await service.progress(session, order_id)
                return Settled(OrderStatus(progress.status))
        logger.info("order %s settled: %s", order_id, decision.status)
        if alerts:
            await self._deliver_alerts(order_id)
        return Settled(decision.status, tuple(rows))

    async def reconcile_payment(self, *, order_id: int) -> None:
        """Ask the gateway what became of the charge (by key) and book that answer.

        If the gateway cannot be asked either, the payment stays ``pending``: unknown is
        not failed. The sweeper asks again later.
        """
        try:
            record = await self.payments.find_charge(order_id=order_id)
        except httpx.HTTPError as exc:
            logger.warning(
                "order %s: payment outcome still unknown (%s)",
                order_id,
                type(exc).__name__,
            )
            return
        if record is None:
            # The gateway never saw the request: nothing was charged.
            await self._book_payment_failure(
                order_id, "payment not taken (gateway unreachable)"
            )
        elif record.succeeded and record.charge_id is not None:
            async with self.sessions() as session:
                order = await service.get_order(session, order_id)
            await self._record_charge(order_id, record.charge_id, order.total)
        else:
            await self._book_payment_failure(
                order_id,
                f"payment declined ({record.decline_code})",
                severity="warning",
            )

    # -- error handlers (never raise) ---------------------------------------------------

    async def on_payment_failed(
        self, task: Task, error: Exception, *, order_id: int
    ) -> None:
        """A decline or a gateway error is booked; a lost answer is asked for by key."""
        logger.warning(
            "%s: order %s charge failed after %d attempt(s): %s",
            task.name,
            order_id,
            task.attempts,
            type(error).__name__,
        )
        try:
            if isinstance(error, PaymentDeclinedError | httpx.HTTPStatusError):
                await self._book_payment_failure(
                    order_id,
                    payment_failure_reason(error),
                    severity="warning"
                    if isinstance(error, PaymentDeclinedError)
                    else "error",
                )
            else:
                await self.reconcile_payment(order_id=order_id)
        except Exception as exc:  # the order stays pending; the sweeper resumes it
            logger.error(
                "order %s: could not record the payment outcome: %s",
                order_id,
                type(exc).__name__,
            )

    async def on_stock_reservation_failed(
        self, task: Task, error: Exception, *, order_id: int
    ) -> None:
        """Mark the reservation failed; only unexpected errors page someone."""
        logger.warning("%s: order %s: %s", task.name, order_id, type(error).__name__)
        await self._book_reservation_failure(order_id, error)

    async def on_settlement_failed(
        self, task: Task, error: Exception, *, order_id: int
    ) -> None:
        """The order stays ``processing``: the sweeper retries it, and a human is told."""
        logger.error(
            "%s: order %s could not be settled: %s",
            task.name,
            order_id,
            type(error).__name__,
        )
        await self._raise_alert(
            order_id,
            f"Order {order_id} could not be settled ({type(error).__name__}); "
            "the sweeper retries it",
        )

    # -- the recovery path --------------------------------------------------------------

    async def resume(self, *, order_id: int) -> OrderStatus | None:
        """Drive an order whose tasks are gone to its end, with the same steps."""
        async with self.sessions() as session:
            order = await service.get_order(session, order_id)
        if order.payment_status == PaymentStatus.PENDING:
            await self.reconcile_payment(order_id=order_id)
        try:
            await self.reserve_stock(order_id=order_id)
        except Exception as exc:
            await self._book_reservation_failure(order_id, exc)
        status = await self.settle(order_id=order_id)
        # Failures are recorded on the rows; the sweeper tries again.
        with suppress(Exception):
            await self.outbox.deliver_pending(subject_type=SUBJECT, subject_id=order_id)
        return status

    def sweep_job(self) -> SweepJob:
        """For the sweeper: orders left ``processing``, resumed one at a time.

        At startup every such order untouched since the process started (its tasks died
        with the last process); later, those unchanged for ``stuck_after``.
        """

        async def due(orphaned_before: datetime | None) -> Sequence[int]:
            changed_before = orphaned_before or utcnow() - self.stuck_after
            async with self.sessions() as session:
                return await service.stuck_order_ids(
                    session, changed_before=changed_before
                )

        async def finish(order_id: int, orphaned: bool) -> bool:  # noqa: ARG001
            return await self.resume(order_id=order_id) is not None

        return SweepJob("orders", due, finish)

    # -- helpers ------------------------------------------------------------------------

    async def _record_charge(
        self, order_id: int, charge_id: str, amount: Decimal
    ) -> None:
        async with self.sessions() as session:
            recorded = await service.mark_paid(session, order_id, charge_id=charge_id)
            if recorded:
                return
            order = await service.get_order(session, order_id)
        if order.charge_id == charge_id:
            return  # already booked (a retry or a recovery got here first)
        # The payment was booked as failed before this answer arrived: give the money back.
        refunded = await self._refund_charge(order_id, charge_id, amount)
        await self._raise_alert(
            order_id,
            f"Charge {charge_id} arrived after order {order_id} was booked unpaid; "
            + ("it was refunded" if refunded else "refund it by hand"),
        )

    async def _book_reservation_failure(self, order_id: int, error: Exception) -> None:
        if isinstance(error, OutOfStockError):
            reason = f"out of stock (product {error.product_id})"
            alerts: list[NewMessage] = []
        else:
            reason = f"stock reservation failed ({type(error).__name__})"
            alerts = [
                _alert(
                    order_id, f"Stock reservation failed for order {order_id}: {reason}"
                )
            ]
        try:
            async with self.sessions() as session:
                await service.mark_inventory_failed(
                    session, order_id, reason=reason, promises=alerts
                )
        except Exception as exc:
            logger.error(
                "order %s: could not record reservation failure: %s",
                order_id,
                type(exc).__name__,
            )
        await self._deliver_alerts(order_id)

    async def _raise_alert(self, order_id: int, text: str) -> None:
        try:
            async with self.sessions() as session:
                outbox_service.add(session, _alert(order_id, text))
                await session.commit()
        except (
            Exception
        ) as exc:  # the database is gone too: the log is all that is left
            logger.error(
                "order %s: alert not recorded: %s", order_id, type(exc).__name__
            )
            return
        await self._deliver_alerts(order_id)

    async def _book_payment_failure(
        self, order_id: int, reason: str, *, severity: str = "error"
    ) -> None:
        async with self.sessions() as session:
            await service.mark_payment_failed(
                session,
                order_id,
                reason=reason,
                promises=[
                    _alert(
                        order_id,
                        f"Payment failed for order {order_id}: {reason}",
                        severity=severity,
                    )
                ],
            )
        await self._deliver_alerts(order_id)

    async def _refund(
        self, order_id: int, charge_id: str | None, amount: Decimal
    ) -> bool:
        if charge_id is None:
            return False
        if not await self._refund_charge(order_id, charge_id, amount):
            return False
        async with self.sessions() as session:
            await service.mark_refunded(session, order_id)
        return True

    async def _refund_charge(
        self, order_id: int, charge_id: str, amount: Decimal
    ) -> bool:
        try:
            await self.payments.refund(
                order_id=order_id, charge_id=charge_id, amount=amount
            )
        except Exception as exc:
            logger.error("order %s: refund failed: %s", order_id, type(exc).__name__)
            return False
        return True

    async def _deliver_alerts(self, order_id: int) -> None:
        # Right away if possible; an alert that fails now stays in the outbox for the sweeper.
        try:
            await self.outbox.deliver_pending(
                subject_type=SUBJECT, subject_id=order_id, kind=OutboxKind.ALERT
            )
        except Exception:
            return
