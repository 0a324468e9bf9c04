"""ppfcos_deploy: run models exported by ppfcos (or PaddleDetection) with Paddle Inference,
ONNX Runtime or OpenVINO.

Installed with ppfcos as the top-level package ``ppfcos_deploy`` (its source is
``deploy/python``), and usable without it: the folder imports only the standard library,
paddle, numpy, opencv and pyyaml (and each optional backend's own package, inside that
backend), so it can be copied to a server on its own and run as
``python deploy/python/infer.py``.
"""
from . import paddle_compat  # noqa: F401  (first: binds the system zlib before paddle loads)
