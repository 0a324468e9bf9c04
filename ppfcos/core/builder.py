"""Build components from a resolved `Config`.

``create(cfg, 'FCOS')`` builds the component named ``FCOS``. Its arguments are
resolved in this order, each step overriding the one before:

1. the constructor's defaults;
2. shared keys (``__shared__``) from the top level of the config, unless the
   section sets them itself;
3. the section named after the class (``FCOSHead:``), then, for an inline
   spec (``fcos_loss: {name: FCOSLoss, ...}``), the spec's own keys;
4. values derived by ``from_config(section, build, **context)`` from parts
   already built (channels and strides flowing backbone -> neck -> head). If
   the config also sets such a value and it disagrees, that is an error: the
   network cannot honour both;
5. injected sub-components (``__inject__``) still given by name or spec are
   built recursively.

Modules receive plain values and built objects, never the config.
"""
import inspect

from . import registry
from .config import ConfigError, unknown_key_message
from .messages import MESSAGE_CHARS, excerpt, shortened


class _Builder:
    """Builds one component; ``build(key, **context)`` is what ``from_config`` receives."""

    def __init__(self, cfg, cls, path, values):
        self.cfg, self.cls, self.path, self.values = cfg, cls, path, values

    def build(self, key, **context):
        """Build the injected component that argument ``key`` names."""
        spec = self.values.get(key, registry.arguments(self.cls).get(key))
        return _build_spec(self.cfg, spec, self.path + (key,), context)


def _build_spec(cfg, spec, path, context):
    if spec is None or not isinstance(spec, (str, dict)):
        return spec  # optional part left out, or an object built already
    if isinstance(spec, str):
        return _create(cfg, spec, (spec,), {}, context, referenced_from=path)
    return _create(cfg, spec.get("name"), path, spec, context, referenced_from=path)


def _create(cfg, name, path, inline, context, referenced_from=None):
    try:
        cls = registry.lookup(name)
    except KeyError as e:
        where = referenced_from or path
        raise ConfigError(f"{cfg.origin(*where)}: {'.'.join(map(str, where))}: "
                          f"{e.args[0]}") from None
    defaults = registry.arguments(cls)
    section = cfg.get(name) or {}
    given = {**section, **{k: v for k, v in inline.items() if k != "name"}}
    for key in given:
        if key not in defaults:
            raise ConfigError(unknown_key_message(cfg, path, key, defaults))

    values = dict(defaults)
    for key in registry.shared_keys(cls):
        if key not in given and key in cfg:
            values[key] = cfg[key]
    values.update(given)

    builder = _Builder(cfg, cls, path, values)
    if hasattr(cls, "from_config"):
        derived = cls.from_config(values, builder.build, **context)
        for key, value in derived.items():
            if key in given and key not in registry.inject_keys(cls) \
                    and not _agrees(given[key], value):
                raise ConfigError(
                    f"{cfg.origin(*path, key)}: {'.'.join(path)}.{key} is {excerpt(given[key])} "
                    f"but the network gives {excerpt(value)} (from the parts it is connected "
                    f"to); remove the key or set it to {excerpt(value)}")
            values[key] = value
    for key in registry.inject_keys(cls):
        if isinstance(values.get(key), (str, dict)):
            values[key] = builder.build(key)

    missing = [k for k, v in values.items() if v is inspect.Parameter.empty]
    if missing:
        raise ConfigError(f"{cfg.origin(*path)}: section {'.'.join(path)} must set "
                          f"{', '.join(missing)}")
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{cfg.origin(*path)}: cannot build {name} "
                          f"(section {'.'.join(path)}): {shortened(str(e), MESSAGE_CHARS)}") from e


def _agrees(given, derived):
    if isinstance(given, (list, tuple)) and isinstance(derived, (list, tuple)):
        return len(given) == len(derived) and all(_agrees(a, b) for a, b in zip(given, derived))
    if isinstance(given, (int, float)) and isinstance(derived, (int, float)):
        return abs(given - derived) <= 1e-9 * max(1.0, abs(derived))
    return given == derived


def create(cfg, name, **context):
    """Build the component ``name`` (a registered class name) from ``cfg``.

    ``context`` is passed to the component's ``from_config`` (e.g. ``input_shape``).
    """
    return _create(cfg, name, (name,), {}, context)


def create_spec(cfg, spec, path):
    """Build an inline ``{name: Component, ...}`` spec found at ``path`` (a tuple of keys)."""
    return _build_spec(cfg, spec, tuple(path), {})
