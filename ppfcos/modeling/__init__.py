"""The network: backbones, necks, heads, losses, post-processing and architectures.

Importing this package registers every component with ``ppfcos.core.registry``.
"""
import logging

from ..core import ConfigError, create
from . import post_process  # noqa: F401  (registers FCOSBox, MultiClassNMS, FCOSPostProcess)
from . import level_topk_post_process  # noqa: F401  (registers LevelTopKPostProcess)
from . import tta  # noqa: F401  (registers TTA, the config's test-time augmentation section)
from .architectures import fcos  # noqa: F401
from .backbones import resnet  # noqa: F401
from .heads import fcos_head  # noqa: F401
from .losses import fcos_loss  # noqa: F401
from .necks import fpn  # noqa: F401

logger = logging.getLogger("ppfcos")


def build_tta(cfg, model):
    """``model``'s detector over the views of the config's ``TTA`` section (defaults when
    it has none): see ppfcos.modeling.tta."""
    try:
        detector = tta.TTADetector(model, create(cfg, "TTA"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    logger.info("test-time augmentation: %d views (scales %s%s), merged before NMS",
                len(detector.options.views()), list(detector.options.scales),
                ", each also flipped" if detector.options.flip else "")
    return detector


def build_model(cfg):
    """Build the model named by ``cfg['architecture']`` (a paddle.nn.Layer)."""
    if "architecture" not in cfg:
        raise ConfigError(f"{cfg.path}: no 'architecture' key (e.g. architecture: FCOS)")
    return create(cfg, cfg["architecture"])
