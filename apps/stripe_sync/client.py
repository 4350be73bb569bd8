"""The official stripe library, pointed at STRIPE_API_BASE, with our own retries.

stripe-python retries 5xx and connection errors only when told to and never a plain 429, so
every call goes through `call()`: exponential backoff with full jitter on 429, 5xx and
network errors. Every write carries an idempotency key derived from our own ids, so a retry
(or a whole re-run of a push) never creates a second object.
"""

import random
import time
from collections.abc import Callable

import stripe
from django.conf import settings


def enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def retryable(error: Exception) -> bool:
    if isinstance(error, stripe.RateLimitError | stripe.APIConnectionError):
        return True
    status = getattr(error, "http_status", None)
    return isinstance(error, stripe.StripeError) and status is not None and status >= 500


def call(operation: Callable, *args, sleep: Callable[[float], None] = time.sleep, **kwargs):
    """Run one Stripe call, retrying transient failures; the last failure is raised."""
    attempts = settings.STRIPE_MAX_ATTEMPTS
    for attempt in range(attempts):
        try:
            return operation(*args, **kwargs)
        except stripe.StripeError as error:
            if attempt == attempts - 1 or not retryable(error):
                raise
            ceiling = settings.STRIPE_RETRY_BASE_SECONDS * 2 ** attempt
            sleep(random.uniform(0, ceiling))  # full jitter: concurrent pushes spread out
    raise AssertionError("unreachable")
