"""The errors of weights I/O, in one module that imports nothing of ppfcos.

Every other module of `ppfcos.checkpoint` imports its errors from here, so
reading, downloading, loading and converting weights depend on this module and never
on each other for an exception class (which is what once made ``download`` and the
loader import each other). All are ``ValueError``s: the file, not the program, is wrong.
"""


class WeightsError(ValueError):
    """A weights file (or snapshot) that cannot be read, downloaded or loaded into the model."""


class TorchFileError(ValueError):
    """The file is not a PyTorch checkpoint the code-free reader understands."""


class ConversionError(ValueError):
    """The other framework's checkpoint does not hold exactly the model's tensors."""
