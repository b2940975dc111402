import os

from django.core.wsgi import get_wsgi_application

from oficina_common.tracing import start_tracing
from oficina_common.warmup import warm_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

start_tracing("billing")  # before the app: OpenTelemetry adds its middleware (docs/tracing.md)
application = get_wsgi_application()
warm_up(web=True)  # the first request's imports and clients, before gunicorn takes requests
