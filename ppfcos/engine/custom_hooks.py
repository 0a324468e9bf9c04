"""Hooks of your own in a training run: from the config's ``custom_hooks`` and from Python.

The config lists them as mmdetection does::

    custom_hooks:
      - {type: PrintMAP, every: 2}                 # a class registered with register_hook
      - {type: my_project.hooks.LossSpike, priority: 10, factor: 3.0}   # or its import path

``type`` names a class registered with `register_hook` or gives its dotted import
path (imported then); the other keys but ``priority`` are its constructor's arguments.
``priority`` (an int, lower first, or one of mmdetection's names: HIGHEST 0, VERY_HIGH 10,
HIGH 30, ABOVE_NORMAL 40, NORMAL 50 (the default), BELOW_NORMAL 60, LOW 70, VERY_LOW 90,
LOWEST 100) orders the custom hooks among themselves; a hook given from Python
(``extra_hooks=``) takes its ``priority`` attribute, NORMAL without one. All of them run
after the evaluation, best-model and early-stopping hooks and before the checkpoint hook,
so a snapshot keeps what they did in its epoch (their ``state_dict()``, under the class
name) and a resumed run gives it back (``load_state_dict``).
"""
import importlib

from ..core.config import ConfigError
from .trainer import HookBase

PRIORITIES = {"HIGHEST": 0, "VERY_HIGH": 10, "HIGH": 30, "ABOVE_NORMAL": 40, "NORMAL": 50,
              "BELOW_NORMAL": 60, "LOW": 70, "VERY_LOW": 90, "LOWEST": 100}
_HOOKS = {}   # registered name -> HookBase subclass


def register_hook(cls):
    """Class decorator: make a HookBase subclass nameable as ``type`` in ``custom_hooks``."""
    if not (isinstance(cls, type) and issubclass(cls, HookBase)):
        raise TypeError(f"register_hook takes a HookBase subclass, got {cls!r}")
    _HOOKS[cls.__name__] = cls
    return cls


def hook_class(name, where):
    """The registered class ``name``, or the class its dotted path imports; ConfigError
    (naming the config entry ``where``) otherwise."""
    if name in _HOOKS:
        return _HOOKS[name]
    module_name, _, class_name = str(name).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name) if module_name else None
    except (ImportError, AttributeError):
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, HookBase)):
        known = ", ".join(sorted(_HOOKS)) or "none registered"
        raise ConfigError(f"{where}: type {name!r} is neither a registered hook ({known}) nor "
                          f"the import path of a HookBase subclass: register the class with "
                          f"ppfcos.engine.custom_hooks.register_hook, or give module.Class")
    return cls


def priority_of(value, where):
    """The number of a priority (an int or one of PRIORITIES' names)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value in PRIORITIES:
        return PRIORITIES[value]
    raise ConfigError(f"{where}: priority {value!r} is neither an integer nor one of "
                      f"{', '.join(PRIORITIES)}")


def build_custom_hooks(specs, extra_hooks=()):
    """The hooks of the config's ``custom_hooks`` list (``specs``) and ``extra_hooks``
    (HookBase instances), ordered by priority (a stable sort: equal priorities keep the
    order given, the config's first)."""
    prioritized = []
    for index, spec in enumerate(specs or []):
        where = f"custom_hooks[{index}]"
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(f"{where}: give a hook as {{type: Name, arg: value, ...}}, "
                              f"got {spec!r}")
        arguments = {k: v for k, v in spec.items() if k not in ("type", "priority")}
        cls = hook_class(spec["type"], where)
        try:
            hook = cls(**arguments)
        except TypeError as e:
            raise ConfigError(f"{where}: {spec['type']} does not take these arguments "
                              f"({e})") from None
        prioritized.append((priority_of(spec.get("priority", "NORMAL"), where), hook))
    for hook in extra_hooks:
        if not isinstance(hook, HookBase):
            raise TypeError(f"extra_hooks takes HookBase instances, got {hook!r}")
        prioritized.append((priority_of(getattr(hook, "priority", "NORMAL"),
                                        type(hook).__name__), hook))
    return [hook for _, hook in sorted(prioritized, key=lambda pair: pair[0])]
