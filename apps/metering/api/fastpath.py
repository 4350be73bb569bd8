"""Event intake served straight from the server, for WSGI and for ASGI.

Intake is by far the busiest endpoint, and Django's middleware does nothing for it (no
session, no CSRF, no messages, no templates): skipping the stack and URL resolution lifts
single-event throughput by about half. Host validation, the HTTPS redirect and Django's
exception handling are kept. Under ASGI the event loop answers small requests itself and
waits for the group commit without holding a thread, which is what lets a 2-core server
answer thousands of single-event requests a second within a few milliseconds each.
"""

import asyncio
import io

from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.middleware.security import SecurityMiddleware

from apps.metering.api.views import EventsView, KongEventIngestView, coalescer

INTAKE = {"/api/v1/events": EventsView(), "/api/v3/openmeter/events": KongEventIngestView()}


class IntakeFastPath:
    """WSGI: ``IntakeFastPath(get_wsgi_application())``."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        view = INTAKE.get(environ.get("PATH_INFO", ""))
        if view is None or environ.get("REQUEST_METHOD") != "POST":
            return self.application(environ, start_response)
        request = WSGIRequest(environ)
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return self.application(environ, start_response)  # SecurityMiddleware redirects
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check
            response = view.dispatch(request)
        except Exception as exc:  # Django's own answers: 400 for a bad host, 500 otherwise
            response = response_for_exception(request, exc)
        response._resource_closers.append(request.close)
        start_response(f"{response.status_code} {response.reason_phrase}",
                       list(response.items()))
        return response  # the server's close() sends request_finished


class AsyncIntakeFastPath:
    """ASGI: ``AsyncIntakeFastPath(get_asgi_application())``."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":  # Django's handler takes HTTP only
            return await _lifespan(receive, send)
        view = INTAKE.get(scope["path"]) if scope["type"] == "http" else None
        if view is None or scope["method"] != "POST":
            return await self.application(scope, receive, send)
        body = await _read_body(scope, receive, settings.METERLINE_INGEST_MAX_BODY_BYTES)
        if body is None:
            return  # the client went away
        request = ASGIRequest(scope, io.BytesIO(body))
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check
            if settings.SECURE_SSL_REDIRECT and not request.is_secure():
                # Exactly as SecurityMiddleware redirects (its exemptions, SECURE_SSL_HOST).
                response = SecurityMiddleware(_no_view).process_request(request)
            else:
                response = None
            response = response or await view.dispatch_async(request)
        except Exception as exc:
            response = response_for_exception(request, exc)
        headers = [(name.encode("latin-1"), value.encode("latin-1"))
                   for name, value in response.items()]
        if response.status_code != 204:  # which must not carry one
            headers.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": headers})
        await send({"type": "http.response.body", "body": response.content})


def _no_view(request):
    raise NotImplementedError  # SecurityMiddleware wants a view; only its redirect is used


async def _read_body(scope, receive, limit: int) -> bytes | None:
    """The body, or its first limit + 1 bytes when longer (the view answers 413); nothing is
    read when the declared length is over the limit already."""
    declared = dict(scope["headers"]).get(b"content-length", b"0")
    if declared.isdigit() and int(declared) > limit:
        return b""
    chunks, size = [], 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await asyncio.to_thread(coalescer.stop)
            await send({"type": "lifespan.shutdown.complete"})
            return
