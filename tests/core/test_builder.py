"""Builder: the resolution order (defaults, shared keys, section, inline spec, from_config,
injected parts) and the errors that name the file and section."""
import pytest

from ppfcos.core import registry
from ppfcos.core.builder import create, create_spec
from ppfcos.core.config import Config, ConfigError


@pytest.fixture(autouse=True)
def components(monkeypatch):
    """A small registry of its own: Loss, Backbone and a Head that uses both."""
    monkeypatch.setattr(registry, "_COMPONENTS", {})

    @registry.register
    class Loss:
        __shared__ = ["num_classes"]

        def __init__(self, gamma=2.0, num_classes=80):
            self.gamma, self.num_classes = gamma, num_classes

    @registry.register
    class Backbone:
        def __init__(self, depth, channels=64):
            if depth not in (18, 50):
                raise ValueError(f"depth must be 18 or 50, got {depth}")
            self.depth, self.channels = depth, channels

    @registry.register
    class Head:
        __shared__ = ["num_classes"]
        __inject__ = ["loss"]

        def __init__(self, in_channels=256, num_classes=80, loss="Loss"):
            self.in_channels, self.num_classes, self.loss = in_channels, num_classes, loss

        @classmethod
        def from_config(cls, section, build, input_channels=None):
            return {} if input_channels is None else {"in_channels": input_channels}


def config(data, origins=None):
    return Config(data, origins or {}, "/configs/model.yml")


def test_defaults_then_shared_keys_then_the_section():
    head = create(config({}), "Head")
    assert (head.in_channels, head.num_classes) == (256, 80)
    assert (head.loss.gamma, head.loss.num_classes) == (2.0, 80)   # injected by section name
    head = create(config({"num_classes": 6}), "Head")
    assert head.num_classes == 6 and head.loss.num_classes == 6   # shared reaches both
    head = create(config({"num_classes": 6, "Head": {"num_classes": 3}}), "Head")
    assert head.num_classes == 3 and head.loss.num_classes == 6   # the section wins for itself


def test_an_inline_spec_overrides_the_section_of_its_class():
    cfg = config({"Loss": {"gamma": 1.0}, "Head": {"loss": {"name": "Loss", "gamma": 3.0}}})
    assert create(cfg, "Head").loss.gamma == 3.0
    assert create(config({"Loss": {"gamma": 1.0}}), "Head").loss.gamma == 1.0
    loss = create_spec(cfg, {"name": "Loss", "num_classes": 2}, ("Head", "loss"))
    assert (loss.gamma, loss.num_classes) == (1.0, 2)
    assert create_spec(cfg, None, ("Head", "loss")) is None        # an optional part left out
    assert create_spec(cfg, loss, ("Head", "loss")) is loss        # an object built already


def test_from_config_derives_values_and_a_disagreeing_config_value_is_an_error():
    assert create(config({}), "Head", input_channels=64).in_channels == 64
    assert create(config({"Head": {"in_channels": 64}}), "Head", input_channels=64).in_channels \
        == 64                                                       # agreeing is fine
    cfg = config({"Head": {"in_channels": 128}}, {("Head", "in_channels"): "/configs/head.yml"})
    with pytest.raises(ConfigError, match=r"^/configs/head.yml: Head.in_channels is 128 but the "
                                          r"network gives 64 .*set it to 64$"):
        create(cfg, "Head", input_channels=64)


def test_unknown_keys_name_the_file_section_and_accepted_keys():
    cfg = config({"Head": {"num_clases": 3}}, {("Head",): "/configs/base.yml"})
    with pytest.raises(ConfigError, match=r"^/configs/base.yml: section Head: unknown key "
                                          r"'num_clases'. Did you mean 'num_classes'\? Accepted "
                                          r"keys: in_channels, loss, num_classes$"):
        create(cfg, "Head")


def test_missing_values_bad_values_and_unknown_parts_are_config_errors():
    with pytest.raises(ConfigError, match=r"^/configs/model.yml: section Backbone must set "
                                          r"depth$"):
        create(config({}), "Backbone")
    with pytest.raises(ConfigError, match=r"cannot build Backbone \(section Backbone\): depth "
                                          r"must be 18 or 50, got 34"):
        create(config({"Backbone": {"depth": 34}}), "Backbone")
    assert create(config({"Backbone": {"depth": 18}}), "Backbone").channels == 64
    with pytest.raises(ConfigError, match=r"Head.loss: unknown component 'Los'. Did you mean "
                                          r"Loss"):
        create(config({"Head": {"loss": "Los"}}), "Head")
