"""Where a customer's reply to an e-mail goes: the workshop, not the no-reply sender."""
from oficina_common.mail import DEFAULT_WORKSHOP_REPLY_TO, workshop_reply_to


def test_without_any_configuration_replies_go_to_the_development_placeholder(monkeypatch):
    monkeypatch.delenv("WORKSHOP_REPLY_TO_EMAIL", raising=False)
    assert workshop_reply_to() == [DEFAULT_WORKSHOP_REPLY_TO]


def test_the_environment_names_the_workshops_address(monkeypatch):
    monkeypatch.setenv("WORKSHOP_REPLY_TO_EMAIL", " Oficina do Zé <contato@oficinadoze.com.br> ")
    assert workshop_reply_to() == ["Oficina do Zé <contato@oficinadoze.com.br>"]


def test_a_setting_wins_over_the_environment(monkeypatch, settings):
    monkeypatch.setenv("WORKSHOP_REPLY_TO_EMAIL", "env@oficina.example")
    settings.WORKSHOP_REPLY_TO_EMAIL = "settings@oficina.example"
    assert workshop_reply_to() == ["settings@oficina.example"]


def test_an_empty_value_means_no_reply_to(monkeypatch, settings):
    monkeypatch.setenv("WORKSHOP_REPLY_TO_EMAIL", "")
    assert workshop_reply_to() == []
    settings.WORKSHOP_REPLY_TO_EMAIL = "  "
    assert workshop_reply_to() == []
