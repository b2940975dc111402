"""OpenAPI description of the shared JWT authentication (drf-spectacular knows only simplejwt's own).

Importing this module registers the extension: each service's urls.py imports it.
"""
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class OficinaJWTScheme(SimpleJWTScheme):
    target_class = "oficina_common.authentication.JWTAuthentication"
    name = "jwtAuth"
