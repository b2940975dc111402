"""What a fresh OS process compiles before it takes work (oficina_common.warmup)."""
import gc

import pytest
from django.template import base, engines
from django.template.loader import get_template

from oficina_common.warmup import warm_up


@pytest.fixture
def fresh_templates():
    """No template compiled yet, as in a process that has just started."""
    for loader in engines["django"].engine.template_loaders:
        reset = getattr(loader, "reset", None)
        if reset:
            reset()
    yield
    gc.unfreeze()  # warm_up freezes what the process holds; the test process gives it back


def test_the_first_e_mail_and_page_find_their_templates_compiled(fresh_templates, monkeypatch):
    warm_up(web=False)
    compiled = []
    real = base.Template.compile_nodelist
    monkeypatch.setattr(base.Template, "compile_nodelist", lambda template: compiled.append(template.name)
                        or real(template))

    # A status e-mail's two parts, the customer's tracking page, the declined work reminder.
    for name in ("notifications/status_change.txt", "notifications/status_change.html",
                 "service_orders/track.html", "notifications/declined_work_reminder.html"):
        get_template(name)

    assert compiled == []  # the ~13 ms of the first status e-mail's were the warm-up's


def test_django_s_own_templates_are_left_to_their_first_use(fresh_templates, monkeypatch):
    warm_up(web=False)
    compiled = []
    real = base.Template.compile_nodelist
    monkeypatch.setattr(base.Template, "compile_nodelist", lambda template: compiled.append(template.name)
                        or real(template))
    get_template("admin/login.html")
    assert compiled == ["admin/login.html"]
