"""The project's own Mercado Pago sandbox: Mercado Pago's REST shape, signed webhooks."""

from .app import create_app
from .config import SandboxConfig
from .signing import sign_notification

__all__ = ["SandboxConfig", "create_app", "sign_notification"]
