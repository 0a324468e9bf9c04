"""Registry: registering, looking up with hints, constructor arguments, shared/inject keys."""
import inspect

import pytest

from ppfcos.core import registry


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch):
    """Each test registers into an empty registry; ppfcos's own components come back after."""
    monkeypatch.setattr(registry, "_COMPONENTS", {})


def make_class(name, module="somewhere"):
    return type(name, (), {"__module__": module})


def test_a_registered_class_is_found_by_its_name():
    Head = make_class("Head")
    assert registry.register(Head) is Head
    assert registry.lookup("Head") is Head and registry.is_registered("Head")
    assert registry.register(Head) is Head                      # registering again is harmless
    registry.register(make_class("Backbone"))
    assert registry.registered_names() == ["Backbone", "Head"]
    assert not registry.is_registered("Neck") and not registry.is_registered(None)


def test_two_classes_with_one_name_are_refused_naming_both_modules():
    registry.register(make_class("Head", "first.module"))
    with pytest.raises(ValueError, match=r"'Head' is registered twice \(first.module and "
                                         r"second.module\)"):
        registry.register(make_class("Head", "second.module"))


def test_unknown_names_list_close_matches_and_every_component():
    for name in ("FCOSHead", "FCOSLoss", "ResNet"):
        registry.register(make_class(name))
    with pytest.raises(KeyError) as err:
        registry.lookup("FCOSHaed")
    message = err.value.args[0]
    assert message.startswith("unknown component 'FCOSHaed'. Did you mean FCOSHead")
    assert message.endswith("Registered components: FCOSHead, FCOSLoss, ResNet")
    with pytest.raises(KeyError, match="unknown component None"):
        registry.lookup(None)


def test_arguments_are_the_constructor_keywords_with_their_defaults():
    class Layer:
        def __init__(self, channels, stride=8, *args, norm=None, **kwargs):
            pass

    assert registry.arguments(Layer) == {"channels": inspect.Parameter.empty, "stride": 8,
                                         "norm": None}


def test_shared_and_inject_keys_come_from_the_class_attributes():
    class Plain:
        pass

    class Head:
        __shared__ = ("num_classes",)
        __inject__ = ["loss"]

    assert registry.shared_keys(Head) == ["num_classes"] and registry.inject_keys(Head) == ["loss"]
    assert registry.shared_keys(Plain) == [] and registry.inject_keys(Plain) == []
