import pytest
from django.core.management import call_command

from catalog.models import Part, Service, StockEntry

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_a_catalogue_with_stock_once(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    assert Service.objects.count() == 4
    assert Part.objects.count() == 4
    assert StockEntry.objects.count() == 4  # stock added on the first run only
    oil = Part.objects.get(sku="OLEO-5W30-1L")
    assert oil.quantity_in_stock == 40
    out = capsys.readouterr().out
    assert "Troca de óleo" in out and "OLEO-5W30-1L" in out and "40 free of 40 in stock" in out
