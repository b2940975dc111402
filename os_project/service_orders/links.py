from django.conf import settings


def public_base_url() -> str:
    return (settings.OS_PUBLIC_URL or settings.OS_SERVICE_URL).rstrip("/")


def tracking_url(tracking_code: str) -> str:
    """The absolute link customers get in every e-mail."""
    return f"{public_base_url()}/track/{tracking_code}/"
