import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.http import HttpRequest

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("ADMIN_USERNAME", "ADMIN_PASSWORD", "DJANGO_ENV"):
        monkeypatch.delenv(name, raising=False)


def test_the_default_admin_is_created_once_and_updated_after(capsys, monkeypatch):
    call_command("ensure_admin")
    assert "created" in capsys.readouterr().out
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.role == "admin"
    assert authenticate(HttpRequest(), username="admin", password="admin") is not None
    monkeypatch.setenv("ADMIN_PASSWORD", "n3w-passw0rd")
    call_command("ensure_admin")
    assert "updated" in capsys.readouterr().out
    assert User.objects.filter(username="admin").count() == 1
    assert authenticate(HttpRequest(), username="admin", password="n3w-passw0rd") is not None


def test_a_named_admin_from_the_environment(monkeypatch):
    monkeypatch.setenv("ADMIN_USERNAME", "chefe")
    monkeypatch.setenv("ADMIN_PASSWORD", "segredo-123")
    call_command("ensure_admin")
    assert User.objects.get(username="chefe").role == "admin"


@pytest.mark.parametrize("password", [None, "admin"])
def test_production_refuses_the_default_password(monkeypatch, password):
    monkeypatch.setenv("DJANGO_ENV", "production")
    if password:
        monkeypatch.setenv("ADMIN_PASSWORD", password)
    with pytest.raises(CommandError, match="Refusing"):
        call_command("ensure_admin")
    assert not User.objects.exists()


def test_production_accepts_an_explicit_password(monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.setenv("ADMIN_PASSWORD", "a-long-secret")
    call_command("ensure_admin")
    assert authenticate(HttpRequest(), username="admin", password="a-long-secret") is not None


def test_an_empty_username_is_refused(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "")
    with pytest.raises(CommandError, match="cannot be empty"):
        call_command("ensure_admin")
