"""Run inside a service's project directory with a deployment's environment; prints JSON.

Loads what the image's commands load: the WSGI application gunicorn serves (config.wsgi), the
Celery app `celery -A config` finds, with its tasks; and runs Django's deployment checks.
Exits non-zero with the error on stderr when the settings refuse to load.
"""
from __future__ import annotations

import io
import json
import sys


def main() -> None:
    from celery.app.utils import find_app
    from django.conf import settings
    from django.core.management import call_command
    from django.urls import Resolver404, resolve

    import config.wsgi  # noqa: F401  (what `gunicorn config.wsgi:application` imports)

    app = find_app("config")  # what `celery -A config` resolves
    app.loader.import_default_modules()

    def resolves(path: str) -> bool:
        try:
            resolve(path)
            return True
        except Resolver404:
            return False

    paths = sys.argv[1:]
    checks = io.StringIO()
    try:
        call_command("check", deploy=True, fail_level="CRITICAL", stdout=checks, stderr=checks)
    except SystemExit:  # pragma: no cover - check never exits below CRITICAL
        pass
    print(json.dumps({
        "wsgi_callable": callable(config.wsgi.application),
        "settings": {
            "DEBUG": settings.DEBUG,
            "ALLOWED_HOSTS": list(settings.ALLOWED_HOSTS),
            "WSGI_APPLICATION": settings.WSGI_APPLICATION,
            "DYNAMODB_ENDPOINT_URL": getattr(settings, "DYNAMODB_ENDPOINT_URL", None),
            "STATIC_ROOT": str(settings.STATIC_ROOT),
            "INSTALLED_APPS": list(settings.INSTALLED_APPS),
        },
        "celery": {
            "main": app.main,
            "default_queue": app.conf.task_default_queue,
            "queues": [queue.name for queue in app.conf.task_queues or ()],
            "tasks": sorted(name for name in app.tasks if not name.startswith("celery.")),
            "beat_tasks": sorted({entry["task"] for entry in (app.conf.beat_schedule or {}).values()}),
        },
        "resolves": {path: resolves(path) for path in paths},
        "deploy_check": checks.getvalue(),
    }))


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # the settings' refusal, an import error: the test shows it
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(3)
