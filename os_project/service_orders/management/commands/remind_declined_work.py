"""Run the declined-work reminder now (beat runs it hourly): for operators, and to see what a date
ahead would send (``--days-ahead 30``: as if that many days had passed)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from service_orders.services import declined_work_remind


class Command(BaseCommand):
    help = "E-mail the customers whose declined work is DECLINED_WORK_REMINDER_DAYS old (once per order)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days-ahead", type=int, default=0,
                            help="run as if this many days had passed (what the reminder would send then)")

    def handle(self, *args: Any, days_ahead: int, **options: Any) -> None:
        if not 0 <= days_ahead <= 3650:
            self.stderr.write("--days-ahead: from 0 to 3650")
            raise SystemExit(2)
        sent = declined_work_remind(now=timezone.now() + timedelta(days=days_ahead))
        self.stdout.write(f"declined-work reminders sent: {sent}")
