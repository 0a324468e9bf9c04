"""Detect objects with a model from tools/export_model.py, as PaddleDetection users type it:

    python deploy/python/infer.py --model_dir output_inference/fcos_r50_fpn_1x_coco \\
        --image_file demo.jpg [--backend paddle|onnxruntime|openvino] ...

Runs ``ppfcos_runtime.infer`` (the flags: ``python deploy/python/infer.py --help``,
docs/export_deploy.md). From a checkout the repository's root is put on ``sys.path`` first,
so the runtime package runs without installing ppfcos.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from ppfcos_runtime.infer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
