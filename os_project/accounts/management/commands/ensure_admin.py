from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services import DEFAULT_ADMIN_PASSWORD, admin_ensure
from oficina_common.errors import ValidationFailed


class Command(BaseCommand):
    help = "Create or update the staff superuser ADMIN_USERNAME / ADMIN_PASSWORD (admin/admin by default)."

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("ADMIN_USERNAME") or "admin"
        explicit = "ADMIN_PASSWORD" in os.environ
        password = os.environ.get("ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD)
        environment = os.environ.get("DJANGO_ENV") or settings.DJANGO_ENV
        try:
            user, created = admin_ensure(username=username, password=password, password_set_explicitly=explicit,
                                         environment=environment)
        except ValidationFailed as exc:
            raise CommandError(exc.message) from exc
        verb = "created" if created else "updated"
        self.stdout.write(self.style.SUCCESS(f"Staff user '{user.username}' {verb} (role admin)."))
