"""Database work called from an event loop (the ASGI intake)."""

from functools import wraps

from asgiref.sync import sync_to_async
from django.db import connection


def in_thread(function):
    """``function`` as a coroutine run in a thread of the loop's pool.

    The thread's connection is closed at the end, as a request's is: with the connection pool
    (the default on PostgreSQL) that hands it back to the pool, and no idle thread of the
    loop's pool keeps a connection of its own."""

    @wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    return sync_to_async(run, thread_sensitive=False)
