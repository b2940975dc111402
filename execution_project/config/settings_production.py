"""Production: the development settings hardened; refuses to start with unsafe values.

``DJANGO_SETTINGS_MODULE=config.settings_production``. DEBUG is off unless asked for (and then
refused), the secrets must come from the environment, logs are JSON.
"""
from oficina_common.correlation import logging_config
from oficina_common.django_settings import refuse_unsafe_production, with_static_files

from .settings import *  # noqa: F403
from .settings import JWT_ALGORITHM, JWT_PUBLIC_KEY, REST_FRAMEWORK, SECRET_KEY, env

DEBUG = env.bool("DEBUG", default=False)
refuse_unsafe_production(debug=DEBUG, secret_key=SECRET_KEY, jwt_public_key=JWT_PUBLIC_KEY, jwt_algorithm=JWT_ALGORITHM)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost"])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
MIDDLEWARE = with_static_files(MIDDLEWARE)  # noqa: F405  (Swagger UI's files, collected at build time)
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]}
LOG_JSON = True
LOGGING = logging_config("execution", level=env("LOG_LEVEL", default="INFO"), json=True)
