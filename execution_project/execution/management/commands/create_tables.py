from typing import Any

from django.core.management.base import BaseCommand

from execution.tables import TABLES
from execution.wiring import dynamo_settings
from oficina_common.dynamodb import ensure_tables


class Command(BaseCommand):
    help = "Create the Execution service's DynamoDB tables that are missing (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        dynamo = dynamo_settings()
        created = ensure_tables(dynamo, TABLES)
        where = dynamo.endpoint_url or f"AWS {dynamo.region}"
        for spec in TABLES:
            name = spec.physical_name(dynamo.table_prefix)
            state = "created" if name in created else "already there"
            self.stdout.write(f"{name}: {state} ({where})")
