"""Group commit for small ingest requests.

Each request costs a transaction, and on a busy gateway most requests carry one event. Requests
in the same process hand their validated events to one writer thread, which stores everything
waiting in a single transaction; each request still answers only after its events are
committed, so nothing acknowledged can be lost and errors reach the request that caused them.
"""

import asyncio
import queue
import threading
from concurrent.futures import Future
from time import monotonic

from django.db import close_old_connections, connection

from apps.metering.domain.events import CloudEvent

MAX_EVENTS_PER_COMMIT = 2000
# While requests keep coming (the last commit carried several), the writer waits this long
# for more before committing: a small commit costs PostgreSQL ~1 ms of CPU whatever it holds,
# so fuller commits free the CPU that requests wait for (32 clients, one event per request:
# 3,000–3,900 → 4,500–4,600 requests/s, p99 15–19 → 13 ms). A lone request is written at once.
GATHER_SECONDS = 0.001
# How often the writer's connection is checked (health check, CONN_MAX_AGE) while writes
# succeed: a check is a round trip, a fifth of a small transaction's. After a failed write the
# next one always checks, so a broken connection is replaced at once.
CONNECTION_CHECK_SECONDS = 1.0


class IngestCoalescer:
    def __init__(self, store):
        self._store = store
        self._queue: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._next_check = 0.0  # monotonic time; 0 checks before the next write

    def store(self, events: list[CloudEvent], *, now) -> None:
        self._submit(events, now).result()

    async def store_async(self, events: list[CloudEvent], *, now) -> None:
        """The same from an event loop, which goes on serving other requests meanwhile."""
        await asyncio.wrap_future(self._submit(events, now))

    def stop(self) -> None:
        """Write what is waiting, release the writer's database connection and end the writer
        (at server shutdown, and after tests); the next request starts a new one."""
        with self._lock:
            writer, waiting = self._writer, self._queue
            self._writer, self._queue = None, queue.Queue()
            waiting.put(None)
        if writer is not None:
            writer.join()

    def _submit(self, events, now) -> Future:
        done: Future = Future()
        with self._lock:
            # Started lazily: a gunicorn worker forks after import, and threads do not survive.
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._run, args=(self._queue,),
                                                daemon=True, name="ingest-writer")
                self._writer.start()
            self._queue.put((events, now, done))
        return done

    def _run(self, waiting_requests: queue.Queue) -> None:
        stopping = busy = False
        while not stopping:
            waiting = [waiting_requests.get()]
            size = len(waiting[0][0]) if waiting[0] else 0
            gather_until = monotonic() + (GATHER_SECONDS if busy else 0.0)
            while size < MAX_EVENTS_PER_COMMIT:
                try:
                    item = waiting_requests.get(timeout=max(0.0, gather_until - monotonic()))
                except queue.Empty:
                    break
                waiting.append(item)
                size += len(item[0]) if item else 0
            stopping = None in waiting
            busy = len(waiting) > 1
            if waiting := [item for item in waiting if item is not None]:
                self._write(waiting)
        connection.close()

    def _write(self, waiting) -> None:
        if monotonic() >= self._next_check:
            close_old_connections()
            self._next_check = monotonic() + CONNECTION_CHECK_SECONDS
        try:
            self._store([event for events, _, _ in waiting for event in events],
                        now=waiting[0][1])
        except Exception as exc:  # the requests that waited get the error, not this thread
            self._next_check = 0.0
            for _, _, done in waiting:
                done.set_exception(exc)
        else:
            for _, _, done in waiting:
                done.set_result(None)
