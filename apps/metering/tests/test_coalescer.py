"""The group-commit writer: errors reach the requests that waited, its connection is checked
at most once a second while writes succeed and right after one fails, and it gathers requests
for a moment only while they keep coming."""

import threading
import time
from datetime import UTC, datetime

import pytest

from apps.metering import coalescer as module
from apps.metering.coalescer import IngestCoalescer

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_connection_checked_once_a_second_and_after_a_failure(monkeypatch):
    checks, stored = [], []
    clock = [100.0]
    monkeypatch.setattr(module, "close_old_connections", lambda: checks.append(clock[0]))
    monkeypatch.setattr(module, "monotonic", lambda: clock[0])
    failing = [False]

    def store(events, *, now):
        if failing[0]:
            raise RuntimeError("connection lost")
        stored.extend(events)

    writer = IngestCoalescer(store)
    writer.store(["a"], now=NOW)
    writer.store(["b"], now=NOW)
    assert checks == [100.0]
    clock[0] = 101.5
    writer.store(["c"], now=NOW)
    assert checks == [100.0, 101.5]
    failing[0] = True
    with pytest.raises(RuntimeError, match="connection lost"):
        writer.store(["d"], now=NOW)
    failing[0] = False
    writer.store(["e"], now=NOW)  # the failure forces a check, though a second has not passed
    assert checks == [100.0, 101.5, 101.5]
    assert stored == ["a", "b", "c", "e"]


def test_commits_gather_only_while_requests_keep_coming(monkeypatch):
    monkeypatch.setattr(module, "GATHER_SECONDS", 3.0)
    commits, writing, gate = [], threading.Event(), threading.Event()
    gate.set()

    def store(events, *, now):
        writing.set()
        gate.wait(10)
        commits.append(list(events))

    writer = IngestCoalescer(store)

    def send(event):
        thread = threading.Thread(target=writer.store, args=([event],), kwargs={"now": NOW})
        thread.start()
        return thread

    # Idle: a lone request is committed at once, not after the gathering window.
    send("lone").join(1.5)
    assert commits == [["lone"]]

    # The writer blocks in its next commit while two more requests wait.
    gate.clear()
    writing.clear()
    first = send("a")
    assert writing.wait(10)
    waiting = [send("b"), send("c")]
    while writer._queue.qsize() < 2:
        time.sleep(0.01)
    gate.set()
    for thread in [first, *waiting]:
        thread.join(10)
    assert commits[1:] == [["a"], ["b", "c"]]

    # Busy (the last commit carried two requests): the next one waits for company.
    later = send("d")
    time.sleep(0.3)
    last = send("e")
    later.join(10)
    last.join(10)
    assert commits[3:] == [["d", "e"]]
