from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from catalog import services
from catalog.models import Part, Service

SERVICES = [
    ("Troca de óleo", "Troca do óleo do motor e do filtro.", Decimal("120.00"), 40),
    ("Alinhamento e balanceamento", "Alinhamento da direção e balanceamento das quatro rodas.", Decimal("150.00"), 60),
    ("Revisão dos freios", "Inspeção de discos, pastilhas e fluido.", Decimal("180.00"), 90),
    ("Diagnóstico eletrônico", "Leitura de falhas com scanner.", Decimal("95.00"), 30),
]
PARTS = [
    ("OLEO-5W30-1L", "Óleo 5W30 (1 litro)", Decimal("45.00"), 40, 10),
    ("FILTRO-OLEO", "Filtro de óleo", Decimal("38.50"), 15, 5),
    ("PASTILHA-FREIO-D", "Jogo de pastilhas de freio dianteiras", Decimal("210.00"), 6, 2),
    ("LAMPADA-H4", "Lâmpada H4", Decimal("29.90"), 12, 4),
]


class Command(BaseCommand):
    help = "Create a few catalogue services and parts with stock (idempotent) and list what exists."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        for name, description, price, minutes in SERVICES:
            if not Service.objects.filter(name=name).exists():
                services.service_create(name=name, description=description, price=price, estimated_minutes=minutes)
        for sku, name, price, stock, minimum in PARTS:
            if not Part.objects.filter(sku=sku).exists():
                services.part_create(sku=sku, name=name, unit_price=price, minimum_stock=minimum,
                                     quantity_in_stock=stock, by="seed_demo")
        self.stdout.write("Services:")
        for service in Service.objects.order_by("id"):
            self.stdout.write(f"  [{service.pk}] {service.name} — R$ {service.price} "
                              f"({service.estimated_minutes} min){'' if service.active else ' (inactive)'}")
        self.stdout.write("Parts:")
        for part in Part.objects.order_by("id"):
            self.stdout.write(f"  [{part.pk}] {part.sku} {part.name} — R$ {part.unit_price}, "
                              f"{part.quantity_available} free of {part.quantity_in_stock} in stock")
