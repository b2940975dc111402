import os

from django.core.wsgi import get_wsgi_application

from oficina_common.tracing import start_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

start_tracing("billing")  # before the app: OpenTelemetry adds its middleware (docs/tracing.md)
application = get_wsgi_application()
