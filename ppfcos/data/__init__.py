"""Data: datasets (COCO, VOC, image folders), transforms and FCOS targets, the reader
(DataLoader wiring), the synthetic dataset generator and its mosaics (mosaic.py).

Importing this package registers the datasets and transforms with the registry.
"""
from . import datasets, transforms  # noqa: F401
from .reader import create_reader

__all__ = ["create_reader"]
