"""Minimal Django settings to exercise the shared library on its own."""
import os

from oficina_common.auth import jwt_settings
from oficina_common.dev_keys import DEV_JWT_PRIVATE_KEY, DEV_JWT_PUBLIC_KEY
from oficina_common.django_settings import redis_cache, rest_framework_settings

SECRET_KEY = "libs-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
DATABASES = {}
SERVICE_NAME = "libs"
MIDDLEWARE = ["oficina_common.metrics.RequestMetricsMiddleware", "oficina_common.correlation.CorrelationIdMiddleware",
              "oficina_common.security.SecurityHeadersMiddleware"]
ROOT_URLCONF = "tests.urls"
REST_FRAMEWORK = rest_framework_settings(throttle_rates={"tries": "3/min"})
SIMPLE_JWT = jwt_settings(private_key=DEV_JWT_PRIVATE_KEY, public_key=DEV_JWT_PUBLIC_KEY)
USE_TZ = True
CELERY_BROKER_URL = os.environ.get("LIBS_TEST_BROKER_URL", "redis://127.0.0.1:6379/9")
CACHES = redis_cache(os.environ.get("LIBS_TEST_CACHE_URL", "redis://127.0.0.1:6379/9"), key_prefix="libs")
