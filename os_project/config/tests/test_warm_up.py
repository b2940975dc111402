"""What a fresh OS process compiles before it takes work (oficina_common.warmup)."""
import gc

import pytest
from django.template import base, engines
from django.template.loader import get_template

from oficina_common.warmup import warm_up


@pytest.fixture
def compiled_after_warm_up(monkeypatch):
    """The names of the templates compiled after a warm-up of a process that had compiled none."""
    for loader in engines["django"].engine.template_loaders:
        reset = getattr(loader, "reset", None)
        if reset:
            reset()
    warm_up(web=False)
    compiled = []
    real = base.Template.compile_nodelist
    monkeypatch.setattr(base.Template, "compile_nodelist", lambda template: compiled.append(template.name)
                        or real(template))
    yield compiled
    gc.unfreeze()  # warm_up freezes what the process holds; the test process gives it back


def test_the_first_e_mail_and_page_find_their_templates_compiled(compiled_after_warm_up):
    # A status e-mail's two parts, the customer's tracking page, the declined work reminder.
    for name in ("notifications/status_change.txt", "notifications/status_change.html",
                 "service_orders/track.html", "notifications/declined_work_reminder.html"):
        get_template(name)
    assert compiled_after_warm_up == []  # the ~13 ms of the first status e-mail's were the warm-up's


def test_django_s_own_templates_are_left_to_their_first_use(compiled_after_warm_up):
    get_template("admin/login.html")
    assert compiled_after_warm_up == ["admin/login.html"]
