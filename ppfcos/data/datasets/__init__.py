"""Detection datasets a config can name: COCODataSet, VOCDataSet, ImageFolder,
SemiCOCODataSet."""
from .base import READER_ERROR_KEY, SKIPPED_KEY, DatasetError, DetDataset
from .coco import COCODataSet
from .image_folder import ImageFolder
from .semi import SemiCOCODataSet
from .voc import VOCDataSet

__all__ = ["COCODataSet", "DatasetError", "DetDataset", "ImageFolder", "READER_ERROR_KEY",
           "SKIPPED_KEY", "SemiCOCODataSet", "VOCDataSet"]
