"""ppfcos_runtime: run models exported by ppfcos (or PaddleDetection) with Paddle Inference,
ONNX Runtime or OpenVINO.

The runtime layer, installed with ppfcos and usable without it: the package imports only
the standard library, paddle, numpy, opencv and pyyaml (and each optional backend's own
package, inside that backend; the server in ``serving`` also FastAPI), so it can be copied
to a server on its own. ``python deploy/python/infer.py`` (PaddleDetection's command) runs
``ppfcos_runtime/infer.py``, from a checkout also without installing.
"""
from . import paddle_compat  # noqa: F401  (first: binds the system zlib before paddle loads)
