"""Config loading and the component registry: knows nothing of models or training."""
from .builder import create
from .config import Config, ConfigError, load_config
from .registry import register

__all__ = ["Config", "ConfigError", "create", "load_config", "register"]
