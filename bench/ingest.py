"""Ingest and query benchmark: a real gunicorn server on PostgreSQL, driven over HTTP.

    make bench                      # or: .venv/bin/python bench/ingest.py [--events 10000000]

Prints events/s for batches of 1,000; requests/s and p50/p99 for single-event requests with
32 concurrent clients; meter query p50/p99 for a month of DAY windows per subject over
--events stored events for 1,000 subjects. Uses (and recreates) the database meterline_bench
on BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/meterline_bench).
"""

import argparse
import json
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/meterline_bench")
SUBJECTS = 1000
MONTH_START = datetime(2026, 9, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(var_dir: Path) -> dict[str, str]:
    return os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": "memory://",
        "METERLINE_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
    }


def manage(env, *args) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


def recreate_database() -> None:
    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')


def event(n: int, subject: int, instant: datetime, prefix: str) -> dict:
    return {"specversion": "1.0", "id": f"{prefix}-{n}", "source": "bench", "type": "tokens",
            "subject": f"bench-{subject}", "time": instant.isoformat().replace("+00:00", "Z"),
            "data": {"tokens": n % 97 + 1, "model": ("gpt-4o", "claude", "llama")[n % 3]}}


def batch_client(args) -> int:
    url, key, client, batches, batch_size = args
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key}",
               "Content-Type": "application/cloudevents-batch+json"}
    sent = 0
    now = datetime.now(UTC)
    for b in range(batches):
        base = (client * batches + b) * batch_size
        body = json.dumps([event(base + i, (base + i) % SUBJECTS, now, "batch")
                           for i in range(batch_size)])
        response = session.post(f"{url}/api/v1/events", data=body, headers=headers, timeout=60)
        response.raise_for_status()
        sent += batch_size
    return sent


def single_client(args) -> list[float]:
    url, key, client, seconds = args
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"}
    latencies, n = [], 0
    deadline = time.monotonic() + seconds
    now = datetime.now(UTC)
    while time.monotonic() < deadline:
        body = json.dumps(event(client * 10_000_000 + n, n % SUBJECTS, now, "single"))
        started = time.perf_counter()
        response = session.post(f"{url}/api/v1/events", data=body, headers=headers, timeout=30)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        n += 1
    return latencies


def query_client(args) -> list[float]:
    url, key, subjects = args
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key}"}
    latencies = []
    params = {"from": MONTH_START.isoformat(), "to": (MONTH_START + timedelta(days=30)).isoformat(),
              "windowSize": "DAY", "windowTimeZone": "Europe/Berlin"}
    for subject in subjects:
        started = time.perf_counter()
        response = session.get(f"{url}/api/v1/meters/bench_tokens/query", headers=headers,
                               params=params | {"subject": f"bench-{subject}"}, timeout=30)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        assert len(response.json()["data"]) >= 28, response.text[:300]
    return latencies


def single_event_load(url: str, key: str, seconds: int) -> tuple[float, float, float]:
    """32 keep-alive clients posting one event each; wrk (C) when installed, so the load
    generator does not eat the CPU the server is measured on."""
    wrk = shutil.which("wrk")
    if wrk:
        result = subprocess.run(
            [wrk, "-t2", "-c32", f"-d{seconds}s", "--latency", "-s",
             str(ROOT / "bench" / "single_event.lua"), "-H", f"Authorization: Bearer {key}",
             f"{url}/api/v1/events"], capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in result or "unexpected status" in result:
            raise RuntimeError(result)
        found = re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", result, re.M)
        latency = {q: _ms(value, unit) for q, value, unit in found}
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result).group(1))
        return rate, latency["50"], latency["99"]
    with multiprocessing.Pool(32) as pool:
        started = time.perf_counter()
        runs = pool.map(single_client, [(url, key, c, seconds) for c in range(32)])
        elapsed = time.perf_counter() - started
    latencies = [x for run in runs for x in run]
    return len(latencies) / elapsed, pct(latencies, 50), pct(latencies, 99)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


LOAD_SQL = """
INSERT INTO metering_event (source, event_id, type, subject, time, data, specversion,
                            datacontenttype, dataschema, payload_hash, ingested_at)
SELECT 'bench-history', 'h-' || i, 'tokens', 'bench-' || (i %% %(subjects)s),
       %(start)s::timestamptz + ((i * 7919) %% (30 * 86400)) * interval '1 second',
       jsonb_build_object('tokens', i %% 97 + 1, 'model',
                          (ARRAY['gpt-4o', 'claude', 'llama'])[i %% 3 + 1]),
       '1.0', '', '', md5(i::text), now()
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
"""


def load_history(total: int) -> float:
    """Store ``total`` events for 1,000 subjects across a month, straight into the table."""
    started = time.perf_counter()
    with psycopg.connect(DATABASE_URL, autocommit=True) as db:
        step = 1_000_000
        for first in range(0, total, step):
            db.execute(LOAD_SQL, {"subjects": SUBJECTS, "start": MONTH_START, "first": first,
                                  "last": min(first + step, total) - 1})
        db.execute("VACUUM ANALYZE metering_event")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000,
                        help="stored events for the query benchmark (default 10,000,000)")
    parser.add_argument("--batch-events", type=int, default=300_000)
    parser.add_argument("--single-seconds", type=int, default=20)
    parser.add_argument("--skip-ingest", action="store_true",
                        help="only the query benchmark")
    parser.add_argument("--skip-query", action="store_true",
                        help="only the ingest benchmarks")
    parser.add_argument("--reuse-history", action="store_true",
                        help="keep the database and its stored history from the last run")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    args = parser.parse_args()

    var_dir = ROOT / "var" / "bench"
    var_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(var_dir)
    print(f"database {DATABASE_URL}; {os.cpu_count()} CPUs", flush=True)
    if not args.reuse_history:
        recreate_database()
    manage(env, "migrate", "--noinput")
    key = manage(env, "create_api_key", "--name", "bench").strip()
    with psycopg.connect(DATABASE_URL, autocommit=True) as db:
        # Measure from a quiet server: write out what an earlier run (or dropping its
        # multi-GB database) left to flush, instead of flushing it during the first phase.
        db.execute("CHECKPOINT")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py",
         "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                requests.get(f"{url}/healthz", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {key}"}
        if not args.reuse_history:
            requests.post(f"{url}/api/v1/meters", headers=auth, timeout=600, json={
                "slug": "bench_tokens", "aggregation": "SUM", "eventType": "tokens",
                "valueProperty": "$.tokens", "groupBy": {"model": "$.model"}},
            ).raise_for_status()

        if not args.skip_ingest:
            ingest_phases(url, key, args)
        if not args.skip_query:
            query_phase(url, key, env, args)
    finally:
        server.terminate()
        server.wait(timeout=20)


def ingest_phases(url, key, args) -> None:
    clients, batch_size = 4, 1000
    batches = args.batch_events // (clients * batch_size)
    with multiprocessing.Pool(clients) as pool:
        started = time.perf_counter()
        sent = sum(pool.map(batch_client, [(url, key, c, batches, batch_size)
                                           for c in range(clients)]))
        elapsed = time.perf_counter() - started
    print(f"batched ingest: {sent:,} events in {elapsed:.1f} s = "
          f"{sent / elapsed:,.0f} events/s (batches of {batch_size}, {clients} clients)",
          flush=True)

    requests_per_s, p50, p99 = single_event_load(url, key, args.single_seconds)
    print(f"single events: {requests_per_s:,.0f} requests/s with 32 clients; "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)


def query_phase(url, key, env, args) -> None:
    if not args.reuse_history:
        loaded = load_history(args.events)
        print(f"stored {args.events:,} history events in {loaded:.0f} s", flush=True)
        started = time.perf_counter()
        manage(env, "rebuild_rollups", "bench_tokens")
        rebuilt = time.perf_counter() - started
        print(f"rebuild_rollups over all events: {rebuilt:.0f} s", flush=True)
        with psycopg.connect(DATABASE_URL, autocommit=True) as db:
            db.execute("VACUUM ANALYZE metering_meterrollup")  # what autovacuum does later

    subjects = list(range(0, SUBJECTS, 5))  # 200 subjects, 4 concurrent clients
    with multiprocessing.Pool(4) as pool:
        runs = pool.map(query_client, [(url, key, subjects[c::4]) for c in range(4)])
    latencies = [x for run in runs for x in run]
    print(f"meter query (30 DAY windows, one subject, {args.events:,} events stored): "
          f"p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms "
          f"over {len(latencies)} queries", flush=True)


if __name__ == "__main__":
    main()
