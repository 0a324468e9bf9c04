"""The network: backbones, necks, heads, losses, post-processing and architectures.

Importing this package registers every component with ``ppfcos.core.registry``.
"""
from ..core import ConfigError, create
from . import post_process  # noqa: F401  (registers FCOSBox, MultiClassNMS, FCOSPostProcess)
from . import level_topk_post_process  # noqa: F401  (registers LevelTopKPostProcess)
from .architectures import fcos  # noqa: F401
from .backbones import resnet  # noqa: F401
from .heads import fcos_head  # noqa: F401
from .losses import fcos_loss  # noqa: F401
from .necks import fpn  # noqa: F401


def build_model(cfg):
    """Build the model named by ``cfg['architecture']`` (a paddle.nn.Layer)."""
    if "architecture" not in cfg:
        raise ConfigError(f"{cfg.path}: no 'architecture' key (e.g. architecture: FCOS)")
    return create(cfg, cfg["architecture"])
