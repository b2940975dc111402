from rest_framework import status

from oficina_common.errors import ApplicationError


class InUse(ApplicationError):
    """Something other records still point to cannot be deleted."""

    status_code = status.HTTP_409_CONFLICT
    code = "in_use"
