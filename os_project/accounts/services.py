from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from customers.domain import normalize_document
from oficina_common.auth import STAFF_ROLES, issue_customer_token, role_of
from oficina_common.errors import AuthenticationRequired, ValidationFailed
from service_orders.domain import is_tracking_code
from service_orders.models import ServiceOrder

WRONG_PAIR = "No service order matches this document and tracking code."


def customer_token_issue(*, document: str, tracking_code: str) -> str:
    """A customer's access token from their document and one of their orders' tracking code.

    Whatever is wrong, the answer is the same: it must not tell which half was right.
    """
    try:
        digits = normalize_document(document)
    except ValidationFailed as exc:
        raise AuthenticationRequired(WRONG_PAIR, code="invalid_credentials") from exc
    if not is_tracking_code(tracking_code):
        raise AuthenticationRequired(WRONG_PAIR, code="invalid_credentials")
    order = (ServiceOrder.objects.filter(tracking_code=tracking_code, customer__document=digits)
             .only("id", "customer_id").first())
    if order is None:
        raise AuthenticationRequired(WRONG_PAIR, code="invalid_credentials")
    return str(issue_customer_token(order.customer_id, service_order_id=order.pk))


NO_ACTIVE_STAFF_ACCOUNT = "No active staff account found for this token."


def staff_user_for_refresh(user_id: Any) -> Any:
    """The staff user a refresh token names, as they are now: gone, deactivated or without a staff
    role, the token is worth nothing (401); the caller puts the role they have now in the new token."""
    user = get_user_model().objects.filter(pk=user_id).first() if str(user_id or "").isdigit() else None
    if user is None or not user.is_active or role_of(user) not in STAFF_ROLES:
        raise AuthenticationRequired(NO_ACTIVE_STAFF_ACCOUNT, code="no_active_account")
    return user


DEFAULT_ADMIN_PASSWORD = "admin"


def admin_ensure(*, username: str, password: str, password_set_explicitly: bool, environment: str) -> tuple[Any, bool]:
    """Create or update the staff superuser; refused in production with the default password."""
    if environment == "production" and (not password_set_explicitly or password == DEFAULT_ADMIN_PASSWORD):
        raise ValidationFailed(
            "Refusing to create the admin user in production without ADMIN_PASSWORD set to something "
            "other than the default.", code="unsafe_admin_password",
        )
    if not username or not password:
        raise ValidationFailed("The admin username and password cannot be empty.")
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    user.is_staff = True
    user.is_superuser = True
    user.is_active = True
    user.role = user_model.Role.ADMIN
    user.set_password(password)
    user.save()
    return user, created
