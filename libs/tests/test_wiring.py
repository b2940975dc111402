from dataclasses import dataclass

from oficina_common.wiring import Wiring


@dataclass
class Deps:
    store: str
    clock: str = "real clock"


def test_built_once_then_shared_and_built_again_when_a_setting_changes(settings):
    built = []

    def build() -> Deps:
        built.append(1)
        return Deps(store=f"store {len(built)}")

    wiring = Wiring(build).rebuild_when_settings_change()
    assert wiring.get() is wiring.get() and len(built) == 1
    settings.DEBUG = not settings.DEBUG  # what pytest-django's fixture sends: setting_changed
    assert wiring.get().store == "store 2"


def test_parts_replaced_survive_a_rebuild_until_reset(settings):
    wiring = Wiring(lambda: Deps(store="dynamodb")).rebuild_when_settings_change()
    wiring.use(clock="fake clock")
    assert wiring.get() == Deps(store="dynamodb", clock="fake clock")
    settings.TIME_ZONE = "America/Sao_Paulo"
    assert wiring.get().clock == "fake clock"
    wiring.reset()
    assert wiring.get().clock == "real clock"


def test_a_whole_set_overrides_for_a_block_and_stays_across_setting_changes(settings):
    wiring = Wiring(lambda: Deps(store="dynamodb")).rebuild_when_settings_change()
    before = wiring.get()
    with wiring.override(Deps(store="in memory")) as fake:
        settings.DEBUG = not settings.DEBUG
        assert wiring.get() is fake
    assert wiring.get() is before
