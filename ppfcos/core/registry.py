"""Registry of buildable components (backbones, necks, heads, losses, datasets, ...).

A component is a class decorated with `register`. Its constructor's
keyword arguments are the keys a config section may set; three optional class
attributes tell the builder (``ppfcos.core.builder``) how to fill them:

- ``__shared__``: argument names whose value falls back to the top-level
  config key of the same name (``num_classes: 80`` feeds every head).
- ``__inject__``: argument names whose value is another component, given in
  the config as a section name (``fcos_loss: FCOSLoss``) or as an inline
  spec (``fcos_loss: {name: FCOSLoss, loss_gamma: 2.0}``).
- ``from_config(section, build, **context)``: a classmethod returning
  arguments derived from already-built parts (e.g. the neck's input channels
  from the backbone's ``out_shape``).

Registration happens when the defining module is imported; ``ppfcos``
imports all of its component modules, so importing the package fills it.
"""
import inspect

from .messages import close_matches, excerpt

_COMPONENTS = {}


def register(cls):
    """Class decorator: make ``cls`` buildable by its class name."""
    name = cls.__name__
    if name in _COMPONENTS and _COMPONENTS[name] is not cls:
        raise ValueError(f"component {name!r} is registered twice "
                         f"({_COMPONENTS[name].__module__} and {cls.__module__})")
    _COMPONENTS[name] = cls
    return cls


def is_registered(name):
    return isinstance(name, str) and name in _COMPONENTS


def registered_names():
    return sorted(_COMPONENTS)


def lookup(name):
    """Return the class registered as ``name``; KeyError lists close names."""
    try:
        return _COMPONENTS[name]
    except (KeyError, TypeError):
        close = close_matches(name, _COMPONENTS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown component {excerpt(name)}.{hint} Registered components: "
                       f"{', '.join(registered_names())}") from None


def arguments(cls):
    """Constructor arguments of ``cls`` as {name: default} (inspect.Parameter.empty if required)."""
    params = inspect.signature(cls.__init__).parameters
    return {k: p.default for k, p in params.items()
            if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def shared_keys(cls):
    return list(getattr(cls, "__shared__", []))


def inject_keys(cls):
    return list(getattr(cls, "__inject__", []))
