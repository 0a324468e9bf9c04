"""Data transforms compatible with PaddleDetection's reader configs.

Importing this package registers the ops so configs can name them:
``operators`` (Decode, Resize, RandomResize, RandomFlip, NormalizeImage,
Permute), ``batch_operators`` (PadBatch), ``fcos_target`` (Gt2FCOSTarget), and
PaddleDetection's augmentation ops: ``photometric`` (RandomDistort,
RandomColorJitter, RandomGaussianBlur, RandomGrayscale), ``geometric``
(RandomExpand, RandomCrop, RandomShortSideResize, RandomSizeCrop,
BatchRandomResize), ``mixing`` (Mixup), ``erasing`` (RandomErasing,
RandomErasingCrop) and ``composite`` (RandomSelect, StrongAugImage). Random ops
draw from each sample's own generators (``draws``).
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
    "RandomResize", "Resize", "PadBatch", "Gt2FCOSTarget", "RandomColorJitter", "RandomDistort",
    "RandomGaussianBlur", "RandomGrayscale", "BatchRandomResize", "RandomCrop", "RandomExpand",
    "RandomShortSideResize", "RandomSizeCrop", "Mixup", "RandomErasing", "RandomErasingCrop",
    "RandomSelect", "StrongAugImage",
]
