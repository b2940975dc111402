"""The staff read the admin in Portuguese: every string we show them is in the pt_BR catalogue,
translated and compiled; the API keeps speaking English to its clients."""
from __future__ import annotations

import gettext
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.urls import reverse

LOCALE = Path(settings.BASE_DIR) / "locale"
PO = LOCALE / "pt_BR" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# What makemessages reads: the code and the templates, not the tests.
IGNORED = ["*/tests/*", "staticfiles/*", "conftest.py"]


def untranslated(po: Path) -> list[str]:
    with po.open("rb") as f:
        catalog = read_po(f, locale="pt_BR")
    return [str(message.id) for message in catalog if message.id and (
        message.fuzzy or not all(message.string if isinstance(message.string, tuple) else [message.string]))]


def test_every_entry_of_the_catalogue_is_translated_and_none_is_fuzzy():
    assert untranslated(PO) == []
    with PO.open("rb") as f:
        catalog = read_po(f, locale="pt_BR")
    # Placeholders (%(count)d, %(number)s) the same in both languages.
    assert [(str(message.id), errors) for message, errors in catalog.check()] == []


def test_the_committed_mo_is_the_compiled_po():
    """A fresh clone and the image read the committed .mo: it must say what the .po says."""
    with PO.open("rb") as f:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(f, locale="pt_BR"))
    compiled.seek(0)
    with MO.open("rb") as committed:
        assert messages(committed) == messages(compiled), (
            "locale/pt_BR/LC_MESSAGES/django.mo is stale: run `python manage.py compilemessages`")


def messages(mo: io.BufferedIOBase) -> dict:
    """A compiled catalogue's translations, without its header (which says who compiled it, when)."""
    return {key: value for key, value in gettext.GNUTranslations(mo)._catalog.items() if key != ""}


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="makemessages needs GNU gettext")
def test_no_string_in_the_code_is_missing_from_the_catalogue(tmp_path):
    """makemessages over a copy of the project: a new ``_("…")`` or ``{% translate %}`` without
    its Portuguese shows up as an empty (or fuzzy, guessed) entry."""
    project = Path(settings.BASE_DIR)
    copy = tmp_path / "os_project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(
        "tests", "staticfiles", ".data", "__pycache__", "*.mo", ".pytest_cache"))
    ignore = [arg for pattern in IGNORED for arg in ("-i", pattern)]
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "pt_BR", "--no-location", *ignore],
                   cwd=copy, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(copy)})
    assert untranslated(copy / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po") == []


def test_the_admin_speaks_portuguese_and_the_api_english(admin_client, admin_api, order):
    changelist = admin_client.get(reverse("admin:service_orders_serviceorder_changelist"))
    html = changelist.content.decode()
    assert '<html lang="pt-br"' in html and changelist["Content-Language"] == "pt-br"
    # Django's own words, ours, and the model's names.
    assert "Selecione ordem de serviço para alterar" in html or "Selecione ordem de serviço" in html
    assert "Iniciar diagnóstico" in html and "Cancelar (pede o motivo)" in html and "Criado em" in html
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "Administração da Oficina" in index and "Painel" in index

    refused = admin_api.post("/api/v1/customers/", {"document": "52998224725"}, format="json")
    assert refused.status_code == 400 and "This field is required." in refused.content.decode()
