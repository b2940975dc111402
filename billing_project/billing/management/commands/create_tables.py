from typing import Any

from botocore.exceptions import BotoCoreError
from django.core.management.base import BaseCommand, CommandError

from billing.tables import ALL_TABLES, dynamo_settings
from oficina_common.dynamodb import ensure_tables


class Command(BaseCommand):
    help = "Create Billing's DynamoDB tables that do not exist yet (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        dynamo = dynamo_settings()
        where = dynamo.endpoint_url or f"AWS {dynamo.region}"
        try:
            created = ensure_tables(dynamo, ALL_TABLES)
        except BotoCoreError as exc:
            raise CommandError(f"DynamoDB at {where} did not answer: {exc}") from exc
        for spec in ALL_TABLES:
            name = spec.physical_name(dynamo.table_prefix)
            self.stdout.write(f"{'created' if name in created else 'exists '} {name}")
        self.stdout.write(self.style.SUCCESS(f"{len(created)} table(s) created on {where}"))
