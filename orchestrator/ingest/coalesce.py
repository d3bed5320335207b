"""Group commit: concurrent single-event requests of one process share one batch.

A single event costs little to decide but a lot to *commit* alone: a transaction, a
preload of the objects its handler touches, about ten statements. When several requests
arrive at once (a plant's MES posting each confirmation as it happens, many lines at a
time), :func:`ingest_single` lets them ride one :func:`~.pipeline.ingest_requests` call:
one decision transaction with its messages, one commit, while each request is still answered
with its own decision (its own message, event, status and reasons).

How (leader and followers, as PostgreSQL's own group commit of WAL flushes):

- A request queues its envelope. If no batch is being gathered, it becomes the *leader*;
  otherwise it is a *follower* and waits for its result.
- The leader waits a bounded window (``INTERLOCK_INGEST_COALESCE_SECONDS``, default
  1.5 ms) for more requests, but only when other requests are in flight in this process
  (like PostgreSQL's ``commit_delay`` with ``commit_siblings``): a lone request never
  waits. The window closes early when ``INTERLOCK_INGEST_COALESCE_MAX`` requests queue.
- One batch runs at a time per process. The leader waits for the running one to finish,
  takes the queue and hands leadership on, so the next batch gathers while this one is
  decided and committed (on the process's batch thread and its one database connection,
  whatever the number of request threads); under load the batch
  grows by itself to what arrived during one commit. It runs the batch per connected
  system and wakes each follower with its result or the exception.

Correctness does not depend on who shares a batch: the business key's unique constraint
decides repeats within a batch and across batches alike, a bad item is isolated by the
pipeline's item-by-item retry, and every message is stored under its own request id.
A window of 0 only removes the wait: requests arriving during a commit still share the
next batch. A caller already inside a transaction (``atomic``) is never coalesced: its
event is decided on its own connection, inside its transaction, as before.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, connections

from .pipeline import ItemResult, ingest_requests


@dataclass
class _Submission:
    principal: Any
    envelope: Any
    request_id: uuid.UUID
    done: threading.Event = field(default_factory=threading.Event)
    result: ItemResult | None = None
    error: BaseException | None = None


class GroupCommit:
    """One per process: the queue of single events waiting for a batch."""

    def __init__(self, *, window: float, max_batch: int) -> None:
        self.window, self.max_batch = window, max_batch
        self._cond = threading.Condition()
        self._queue: list[_Submission] = []
        self._gathering = False  # a leader has been chosen for the queued submissions
        self._running = False  # a batch of this process is being decided and committed
        self._full = threading.Event()
        self._in_flight = 0
        # Batches run on one thread, so a process holds one database connection for them
        # however many request threads it has (gthread: one connection per thread else).
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-batch")
        #: Batches run and submissions they carried (for the bench and the tests).
        self.batches = 0
        self.submissions = 0

    def submit(self, principal, envelope: Any) -> ItemResult:
        if connection.in_atomic_block:  # its transaction, its connection: not shareable
            return ingest_requests(
                principal=principal, envelopes=[envelope], request_ids=[uuid.uuid4()]
            )[0]
        sub = _Submission(principal, envelope, uuid.uuid4())
        with self._cond:
            self._in_flight += 1
            self._queue.append(sub)
            lead = not self._gathering
            self._gathering = True
            if len(self._queue) >= self.max_batch:
                self._full.set()
            others = self._in_flight > 1
        try:
            if not lead:
                sub.done.wait()
            else:
                self._lead(others)
        finally:
            with self._cond:
                self._in_flight -= 1
        if sub.error is not None:
            raise sub.error
        return sub.result

    def close(self) -> None:
        """Close the batch thread's database connection (tests, before dropping the DB)."""
        self._executor.submit(connections.close_all).result()

    def _lead(self, others: bool) -> None:
        if others and self.window > 0:
            self._full.wait(self.window)
        with self._cond:
            # One batch at a time per process: while one commits, the next one grows (the
            # decision is CPU-bound Python under one GIL, so a second batch in parallel
            # would only split the work in smaller, dearer pieces).
            while self._running:
                self._cond.wait()
            batch, self._queue = self._queue, []
            self._gathering = False
            self._running = True
            self._full.clear()
        try:
            self._run(batch)
        finally:
            with self._cond:
                self._running = False
                self._cond.notify_all()

    def _run(self, batch: list[_Submission]) -> None:
        try:
            self.batches += self._executor.submit(_run_in_thread, batch).result()
        except BaseException as exc:  # e.g. the connection check: none may hang
            for sub in batch:
                sub.error = sub.error or exc
                sub.done.set()
        self.submissions += len(batch)


def run_batch(batch: list[_Submission]) -> int:
    """Decide ``batch`` with one :func:`ingest_requests` per connected system; hand each
    submission its result or the exception. Returns the number of batches run."""
    by_system: dict[Any, list[_Submission]] = {}
    for sub in batch:
        by_system.setdefault(sub.principal.system.pk, []).append(sub)
    for subs in by_system.values():
        try:
            results = ingest_requests(
                principal=subs[0].principal,
                envelopes=[s.envelope for s in subs],
                request_ids=[s.request_id for s in subs],
            )
            for sub, result in zip(subs, results, strict=True):
                sub.result = result
        except BaseException as exc:  # every waiting request learns it, none hangs
            for sub in subs:
                sub.error = exc
        finally:
            for sub in subs:
                sub.done.set()
    return len(by_system)


class AsyncGroupCommit:
    """The same group commit for an asyncio server (``connectors/inbound/asgi.py``).

    Requests queue on the event loop; one batch at a time runs on a single worker thread,
    which keeps the process's one database connection: while it commits, the next batch
    grows. The window applies only under load (the previous batch carried more than one
    request), so a lone request goes at once.
    """

    def __init__(self, *, window: float, max_batch: int) -> None:
        self.window, self.max_batch = window, max_batch
        self._queue: list[tuple[_Submission, asyncio.Future]] = []
        self._running = False
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-batch")
        self._loaded = False
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.submissions = 0

    async def run_sync(self, fn, *args):
        """Run ``fn`` on the batch thread (the process's database connection)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def submit(self, principal, envelope: Any) -> ItemResult:
        loop = asyncio.get_running_loop()
        sub = _Submission(principal, envelope, uuid.uuid4())
        future = loop.create_future()
        self._queue.append((sub, future))
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._drain())  # referenced: not collected
        await future
        if sub.error is not None:
            raise sub.error
        return sub.result

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # requests already read join this batch
            if self._loaded and self.window > 0 and len(self._queue) < self.max_batch:
                await asyncio.sleep(self.window)
            while self._queue:
                taken, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                batch = [sub for sub, _ in taken]
                try:
                    self.batches += await self.run_sync(_run_in_thread, batch)
                except BaseException as exc:  # e.g. the connection check: none may hang
                    for sub in batch:
                        sub.error = sub.error or exc
                self.submissions += len(batch)
                self._loaded = len(batch) > 1
                for _, future in taken:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._running = False


def _run_in_thread(batch: list[_Submission]) -> int:
    # A long-lived thread has no request cycle: drop a broken or expired connection here.
    close_old_connections()
    return run_batch(batch)


_group: GroupCommit | None = None
_group_lock = threading.Lock()


def group_commit() -> GroupCommit:
    """This process's group commit, configured from the settings on first use."""
    global _group
    if _group is None:
        with _group_lock:
            if _group is None:
                _group = GroupCommit(
                    window=settings.INTERLOCK_INGEST_COALESCE_SECONDS,
                    max_batch=settings.INTERLOCK_INGEST_COALESCE_MAX,
                )
    return _group


_async_group: AsyncGroupCommit | None = None


def async_group_commit() -> AsyncGroupCommit:
    """This process's asyncio group commit (one event loop per ASGI worker process)."""
    global _async_group
    if _async_group is None:
        _async_group = AsyncGroupCommit(
            window=settings.INTERLOCK_INGEST_COALESCE_SECONDS,
            max_batch=settings.INTERLOCK_INGEST_COALESCE_MAX,
        )
    return _async_group


def close_connections() -> None:
    """Close the database connection of this process's batch thread, if it has one."""
    if _group is not None:
        _group.close()


def ingest_single(*, principal, envelope: Any) -> ItemResult:
    """Store, decide and apply one envelope, sharing the batch and the commit with the
    single events other threads of this process submit at the same moment."""
    return group_commit().submit(principal, envelope)
