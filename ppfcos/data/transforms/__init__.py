"""Data transforms compatible with PaddleDetection's reader configs.

Importing this package registers the ops (``Decode``, ``Resize``,
``RandomResize``, ``RandomFlip``, ``NormalizeImage``, ``Permute``,
``PadBatch``, ``Gt2FCOSTarget``) so configs can name them.
"""
from .operators import (BaseOperator, Decode, ImageDecodeError, NormalizeImage, Permute,
                        RandomFlip, RandomResize, Resize)
from .batch_operators import PadBatch
from .fcos_target import Gt2FCOSTarget
from .photometric import RandomColorJitter, RandomDistort, RandomGaussianBlur, RandomGrayscale
from .geometric import (BatchRandomResize, RandomCrop, RandomExpand, RandomShortSideResize,
                        RandomSizeCrop)
from .mixing import Mixup
from .erasing import RandomErasing, RandomErasingCrop
from .composite import RandomSelect, StrongAugImage

__all__ = [
    "BaseOperator", "Decode", "ImageDecodeError", "NormalizeImage", "Permute", "RandomFlip",
    "RandomResize", "Resize", "PadBatch", "Gt2FCOSTarget",
]
