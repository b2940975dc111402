"""What a process would otherwise do on its first request or task, done as it starts.

Django imports the URLconf (every view, serializer and service behind it) on the first request;
simplejwt imports PyJWT and ``cryptography`` on the first token it checks; a service's wiring
builds its boto3 resources (DynamoDB's service model loaded and parsed) on first use; kombu imports
its Redis transport on the first publish. A fresh web process paid 0.4 to 0.8 s of CPU for these
during its first requests (py-spy on the saga benchmark), while those requests waited. Smaller
first uses were found later (each timed in a fresh OS process): Celery looks its result backend up
among the installed packages' entry points on the first publish (9 to 12 ms), Django compiles a
template the first time it renders it (13 ms for the status e-mail's two), and the cache opens its
Redis client on the first throttled request (3 ms).

``warm_up`` does them before the process takes work: from each service's ``config/wsgi.py`` for
gunicorn's workers, and on Celery's ``worker_init`` for the workers. Each step is best effort: one
that fails (DynamoDB or Redis not there yet) is logged and left to the first request, as before.
The service's own steps are dotted paths to callables in ``settings.WARM_UP``.
"""
from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def _urlconf() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the property imports the URLconf and every view


def _authentication() -> None:
    from rest_framework.settings import api_settings

    for authentication_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        authentication = authentication_class()
        check = getattr(authentication, "get_validated_token", None)
        if check is not None:
            # Refused, as it must be; on the way the token backend is imported and its key loaded.
            try:
                check(b"warm-up")
            except Exception:  # noqa: BLE001, S110 - an invalid token is the expected outcome
                pass


def _celery_producer() -> None:
    from celery import current_app

    with current_app.producer_or_acquire():
        pass
    # Every publish makes an AsyncResult, which asks for the app's result backend (none here: the
    # disabled one), found the first time through the installed packages' entry points.
    current_app.backend  # noqa: B018


def _cache() -> None:
    """The cache's Redis client (the throttles' counters), connected."""
    from django.core.cache import cache

    cache.get("warm-up")


def _templates() -> None:
    """Compile the service's own templates (its e-mails and pages) into the cached loader, each
    app's ``templates`` folder under the project (Django's and other packages' are left to first use)."""
    from pathlib import Path

    from django.apps import apps
    from django.conf import settings
    from django.template.loader import get_template

    base = Path(getattr(settings, "BASE_DIR", Path.cwd())).resolve()
    for app in apps.get_app_configs():
        folder = Path(app.path).resolve() / "templates"
        if base in folder.parents and folder.is_dir():
            for template in sorted(path for path in folder.rglob("*") if path.is_file()):
                get_template(template.relative_to(folder).as_posix())


def mail() -> None:
    """A service that sends e-mails (``settings.WARM_UP``): its e-mail backend imported and one
    message built, not sent (the host name for its Message-ID looked up, once a process)."""
    from django.core.mail import EmailMultiAlternatives, get_connection

    get_connection()
    message = EmailMultiAlternatives(subject="Aquecimento", body="-", from_email="warm-up@localhost",
                                     to=["warm-up@localhost"])
    message.attach_alternative("<p>-</p>", "text/html")
    message.message().as_bytes()


def _settings_steps() -> list[Callable[[], Any]]:
    from django.conf import settings
    from django.utils.module_loading import import_string

    return [import_string(path) for path in getattr(settings, "WARM_UP", ())]


def warm_up(*, web: bool) -> float:
    """Run the steps (the web ones too when ``web``); returns the CPU seconds they took."""
    started = time.process_time()
    steps: list[Callable[[], Any]] = [*((_urlconf, _authentication) if web else ()), _celery_producer, _cache,
                                      _templates]
    try:
        steps += _settings_steps()
    except ImportError:
        logger.warning("warm-up: a WARM_UP step cannot be imported", exc_info=True)
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - the first request does it instead
            logger.warning("warm-up step %s failed; the first request will do it", step, exc_info=True)
    _freeze_what_startup_built()
    spent = time.process_time() - started
    logger.info("warmed up in %.2f s of CPU", spent)
    return spent


def _freeze_what_startup_built() -> None:
    """Move every object alive now (modules, settings, URLconf, boto3's service models, Celery's
    app: what lives as long as the process) out of the cyclic collector's reach (``gc.freeze``).
    Each full collection would otherwise walk them all again: 0.13 to 0.17 s of a worker's CPU,
    once every few hundred tasks. What becomes garbage later is collected as before."""
    gc.collect()
    gc.freeze()


def install_worker_warm_up(app: Any) -> None:
    """Warm a Celery worker up before it consumes (``worker_init``)."""
    from celery import signals

    @signals.worker_init.connect(weak=False)
    def _warm(sender: Any = None, **_: Any) -> None:
        if sender is not None and getattr(sender, "app", app) is not app:
            return
        import django

        django.setup()  # Celery's Django fixup has done it already; a second call does nothing
        warm_up(web=False)
