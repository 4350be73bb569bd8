"""The production web server: ``gunicorn -c config/gunicorn.py`` (options on the command line win).

ASGI under uvicorn's worker: event intake is answered by the event loop itself (see
apps/metering/api/fastpath.py); every other request runs Django's sync views in threads.
"""

import os

wsgi_app = "config.asgi:application"
worker_class = "uvicorn_worker.UvicornWorker"
bind = os.environ.get("METERLINE_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
backlog = 2048
