"""Who may do what in the OS service (roles come from oficina_common.auth)."""
from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from oficina_common.auth import ADMIN, ATTENDANT, CUSTOMER, MECHANIC, STAFF_ROLES, HasRole, role_of

IsStaff = HasRole.of(*STAFF_ROLES)
IsFrontDesk = HasRole.of(ADMIN, ATTENDANT)
IsWorkshop = HasRole.of(ADMIN, ATTENDANT, MECHANIC)
IsStaffOrCustomer = HasRole.of(*STAFF_ROLES, CUSTOMER)


class StaffReadsFrontDeskWrites(BasePermission):
    """Every staff member reads; only admins and attendants change anything."""

    message = "Only admins and attendants may change this."

    def has_permission(self, request: Any, view: Any) -> bool:
        role = role_of(request.user)
        if request.method in SAFE_METHODS:
            return role in STAFF_ROLES
        return role in (ADMIN, ATTENDANT)
