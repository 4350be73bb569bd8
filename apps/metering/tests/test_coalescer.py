"""The group-commit writer: errors reach the requests that waited, and its connection is
checked at most once a second while writes succeed, and right after one fails."""

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
