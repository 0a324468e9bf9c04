"""Data: datasets (COCO, VOC, image folders), transforms and FCOS targets, the reader
and the synthetic dataset generator.

    reader.py     create_reader: builds a config's dataset, ops and sampler into a DetLoader
    loader.py     DetLoader: paddle DataLoader + epochs + skipped-image reporting
    collate.py    samples -> one batch of arrays (ground truth kept per image)
    sampler.py    distributed, per-epoch shuffled batch sampler
    synthetic.py  the embedded synthetic COCO dataset; mosaic.py tiles its images into
                  large ones with many small objects (sliced-inference measurements)
    check.py      a config's datasets checked record by record, with statistics
                  (tools/check_dataset.py; check_plots.py plots them)

Importing this package registers the datasets and transforms with the registry.
"""
from . import datasets, transforms  # noqa: F401
from .reader import create_reader

__all__ = ["create_reader"]
