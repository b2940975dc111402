from django.conf import settings


def public_base_url() -> str:
    return (settings.OS_PUBLIC_URL or settings.OS_SERVICE_URL).rstrip("/")


def tracking_url(tracking_code: str) -> str:
    """The absolute link customers get in every e-mail."""
    return f"{public_base_url()}/track/{tracking_code}/"


def declined_work_url(token: str) -> str:
    """The link of the declined-work reminder: the customer's page to ask for that work."""
    return f"{public_base_url()}/declined/{token}/"
