"""The fakes' own SQLite file: faults, recorded calls, and what each fake accepted.

Demo tooling, not the service's schema: tables are made with CREATE TABLE IF NOT EXISTS,
no Alembic. Several processes (workers, a restarted server) share the file through WAL and
a busy timeout; ids come from AUTOINCREMENT, so they are unique across processes. Each
process holds one connection, used from worker threads under a lock.

Every table is capped: after an insert, rows older than the newest ``cap`` are deleted by
a range on the integer primary key (an index seek, never a scan).
"""

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

BUSY_TIMEOUT_S = 5.0
CHARGE_PREFIX = "ch_"

# Tables of accepted requests: each row keeps the answer given for its Idempotency-Key.
Accepted = Literal["email", "shipment", "alert", "charge", "refund"]
Answer = tuple[int, dict[str, Any]]

_ANSWER = """
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT UNIQUE,
    status_code INTEGER NOT NULL,
    response TEXT NOT NULL,
    at TEXT NOT NULL"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS fault (service TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS first_attempt (
    id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT UNIQUE NOT NULL
);
CREATE TABLE IF NOT EXISTS call (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER,
    headers TEXT NOT NULL DEFAULT '{{}}',
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS call_service ON call (service, id);
CREATE TABLE IF NOT EXISTS analytics_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS email ({_ANSWER},
    to_address TEXT NOT NULL, subject TEXT NOT NULL, template TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shipment ({_ANSWER}, order_id INTEGER, items TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alert ({_ANSWER}, text TEXT);
CREATE TABLE IF NOT EXISTS charge ({_ANSWER}, amount TEXT, currency TEXT, order_id INTEGER);
CREATE TABLE IF NOT EXISTS refund ({_ANSWER}, charge_id TEXT);
"""


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch a new file to WAL; a file already in WAL needs no lock to say so.

    Switching takes an exclusive lock and SQLite does not wait for it (no busy handler):
    two workers, or two connections of one test, opening a new file at once collide.
    The loser retries until the winner is done (this runs in a worker thread).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _add_call_headers(db: sqlite3.Connection) -> None:
    """Give a fakes.db made before calls recorded headers its ``headers`` column."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(call)")}
    if "headers" in columns:
        return
    try:
        db.execute("ALTER TABLE call ADD COLUMN headers TEXT NOT NULL DEFAULT '{}'")
    except sqlite3.OperationalError as error:
        # Another process opening the same old file added it first.
        if "duplicate column" not in str(error):
            raise


@dataclass(frozen=True)
class Caps:
    """Most rows kept: ``calls`` for recorded calls, ``rows`` for every other table."""

    calls: int = 5_000
    rows: int = 10_000


class Tx:
    """One transaction on the fakes' database (worker threads only, never the loop)."""

    def __init__(self, db: sqlite3.Connection, caps: Caps) -> None:
        self._db = db
        self._caps = caps

    def _trim(self, table: str, last_id: int | None) -> None:
        cap = self._caps.calls if table == "call" else self._caps.rows
        if last_id is not None and last_id > cap:
            self._db.execute(f"DELETE FROM {table} WHERE id <= ?", (last_id - cap,))

    def _count(self, table: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
        row = self._db.execute(
            f"SELECT count(*) FROM {table} {where}", params
        ).fetchone()
        return int(row[0])

    # -- faults and counters ---------------------------------------------------------

    def faults(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT service, value FROM fault").fetchall())

    def fault(self, service: str) -> str:
        row = self._db.execute(
            "SELECT value FROM fault WHERE service = ?", (service,)
        ).fetchone()
        return "ok" if row is None else str(row[0])

    def set_faults(self, changes: Mapping[str, str]) -> None:
        self._db.executemany(
            "INSERT INTO fault (service, value) VALUES (?, ?)"
            " ON CONFLICT (service) DO UPDATE SET value = excluded.value",
            changes.items(),
        )

    def bump(self, name: str) -> int:
        """Add one to a named counter and return the new value."""
        row = self._db.execute(
            "INSERT INTO counter (name, value) VALUES (?, 1)"
            " ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        ).fetchone()
        return int(row[0])

    def first_attempt(self, key: str) -> bool:
        """True the first time ``key`` is seen (remembered in a capped table)."""
        cursor = self._db.execute(
            "INSERT INTO first_attempt (idempotency_key) VALUES (?)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            (key,),
        )
        if cursor.rowcount == 0:
            return False
        self._trim("first_attempt", cursor.lastrowid)
        return True

    # -- recorded calls and analytics events -----------------------------------------

    def add_call(
        self,
        *,
        service: str,
        method: str,
        url: str,
        status: int | None,
        headers: str,
        body: str,
        at: str,
    ) -> None:
        cursor = self._db.execute(
            "INSERT INTO call (service, method, url, status, headers, body, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (service, method, url, status, headers, body, at),
        )
        self._trim("call", cursor.lastrowid)

    def calls(
        self, service: str | None = None, limit: int | None = None
    ) -> tuple[int, list[sqlite3.Row]]:
        """How many calls are kept (of ``service``) and the newest ``limit``, oldest first."""
        where, params = ("WHERE service = ?", (service,)) if service else ("", ())
        total = self._count("call", where, params)
        rows = self._db.execute(
            f"SELECT service, method, url, status, headers, body, at FROM call {where}"
            " ORDER BY id DESC LIMIT ?",
            (*params, -1 if limit is None else limit),
        ).fetchall()
        return total, rows[::-1]

    def add_events(self, events: list[str]) -> None:
        if not events:
            return
        self._db.executemany(
            "INSERT INTO analytics_event (event) VALUES (?)", ((e,) for e in events)
        )
        last = self._db.execute("SELECT last_insert_rowid()").fetchone()
        self._trim("analytics_event", int(last[0]))

    def events(self) -> list[str]:
        rows = self._db.execute("SELECT event FROM analytics_event ORDER BY id")
        return [str(row[0]) for row in rows]

    # -- accepted requests, idempotent by key ----------------------------------------

    def replay(self, table: Accepted, key: str | None) -> Answer | None:
        """The answer stored for ``key``, if a request with it was accepted before."""
        if key is None:
            return None
        row = self._db.execute(
            f"SELECT status_code, response FROM {table} WHERE idempotency_key = ?",
            (key,),
        ).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    def accept(
        self,
        table: Accepted,
        *,
        key: str | None,
        status: int,
        answer: Callable[[int], dict[str, Any]],
        at: str,
        **columns: str | int | None,
    ) -> Answer:
        """Insert a row, then store ``answer(row id)`` as its answer (ids such as ``ch_7``)."""
        names = ["idempotency_key", "status_code", "response", "at", *columns]
        cursor = self._db.execute(
            f"INSERT INTO {table} ({', '.join(names)})"
            f" VALUES ({', '.join('?' * len(names))})",
            (key, status, "{}", at, *columns.values()),
        )
        row_id = cursor.lastrowid
        assert row_id is not None
        payload = answer(row_id)
        self._db.execute(
            f"UPDATE {table} SET response = ? WHERE id = ?",
            (json.dumps(payload), row_id),
        )
        self._trim(table, row_id)
        return status, payload

    def answers(self, table: Accepted) -> dict[str, Answer]:
        """Idempotency key → stored answer, for the rows that came with a key."""
        rows = self._db.execute(
            f"SELECT idempotency_key, status_code, response FROM {table}"
            " WHERE idempotency_key IS NOT NULL ORDER BY id"
        )
        return {str(k): (int(status), json.loads(body)) for k, status, body in rows}

    def rows(
        self, table: Accepted, limit: int | None = None
    ) -> tuple[int, list[sqlite3.Row]]:
        """How many rows are kept and the newest ``limit``, oldest first."""
        rows = self._db.execute(
            f"SELECT * FROM {table} ORDER BY id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()
        return self._count(table), rows[::-1]

    def charged(self, charge_id: object) -> bool:
        """Whether ``charge_id`` (``ch_<row id>``) is a charge that succeeded and is kept."""
        number = (
            charge_id.removeprefix(CHARGE_PREFIX) if isinstance(charge_id, str) else ""
        )
        if not (charge_id != number and number.isdigit()):
            return False
        row = self._db.execute(
            "SELECT 1 FROM charge WHERE id = ? AND status_code = 200", (int(number),)
        ).fetchone()
        return row is not None


class FakeStore:
    """The fakes' SQLite file (or a private in-memory database when ``path`` is None).

    Opened on first use, so building the app does no I/O.
    """

    def __init__(self, path: Path | None, caps: Caps) -> None:
        self.path = path
        self.caps = caps
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0

    def _connect(self) -> sqlite3.Connection:
        # A forked child must not share its parent's connection.
        if self._db is not None and self._pid == os.getpid():
            return self._db
        if self.path is None:
            target = ":memory:"
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target = str(self.path)
        db = sqlite3.connect(
            target,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,  # explicit BEGIN/COMMIT below
            check_same_thread=False,  # worker threads take turns under self._lock
        )
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if self.path is not None:
            _use_wal(db)
        db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(SCHEMA)
        _add_call_headers(db)
        self._db, self._pid = db, os.getpid()
        return db

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Tx]:
        with self._lock:
            db = self._connect()
            db.execute(begin)
            try:
                yield Tx(db, self.caps)
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def write(self) -> AbstractContextManager[Tx]:
        """A write transaction; IMMEDIATE, so check-then-insert is atomic across processes."""
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> AbstractContextManager[Tx]:
        """A read transaction: one consistent snapshot (a count and its rows agree)."""
        return self._transaction("BEGIN")

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None
