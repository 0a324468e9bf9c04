"""Install ppfcos.

Paddle comes in several distributions (paddlepaddle, paddlepaddle-gpu, ...) that
all provide the ``paddle`` module. If one is already installed it is left
alone; only a machine with none gets ``paddlepaddle`` (the CPU build), so
installing ppfcos never replaces a user's GPU build.
"""
import json
import os
import subprocess
import sys

from setuptools import find_packages, setup

PADDLE_FALLBACK = "paddlepaddle>=3.0"
# Sliced inference (--slice_infer in tools/ and deploy/python; ppfcos.api.sahi_model, sahi's
# DetectionModel of a Detector): sahi's window grid and its numpy NMS. sahi 0.12 needs no
# torch (its torchvision backend is optional) and no Paddle.
SLICE_EXTRA = ["sahi>=0.12.8"]
# deploy's --backend openvino (model.onnx, fp32/bf16/int8).
OPENVINO_EXTRA = ["openvino>=2025.0"]
# tools/analyze_results.py, tools/eval.py --analyze and tools/check_dataset.py: the plots
# (matplotlib) and the TIDE error breakdown (tidecv, which brings seaborn and pandas).
ANALYSIS_EXTRA = ["matplotlib", "tidecv"]
# DetectionResult.to_supervision() (ppfcos.Detector's results as supervision.Detections).
SUPERVISION_EXTRA = ["supervision"]
# deploy's --track and ppfcos.Detector.track: ByteTrack on supervision Detections, by roboflow's
# trackers package (supervision's own ByteTrack moved there; it brings supervision and scipy).
TRACK_EXTRA = ["trackers>=2.6,<3"]
# ppfcos-serve (ppfcos_runtime/serving): FastAPI on uvicorn (httptools, uvloop), multipart uploads,
# Prometheus metrics.
SERVE_EXTRA = ["fastapi", "uvicorn", "httptools", "uvloop", "python-multipart",
               "prometheus_client"]
# tools/train.py's experiment loggers (ppfcos/engine/loggers.py): TensorBoard event files
# written by tensorboardX (tensorboard reads and shows them), Weights & Biases, MLflow's
# client and file store (mlflow-skinny: no server or UI; pip install mlflow for those).
TENSORBOARD_EXTRA = ["tensorboardX", "tensorboard"]
WANDB_EXTRA = ["wandb"]
MLFLOW_EXTRA = ["mlflow-skinny", "pillow"]
LOGGER_EXTRAS = TENSORBOARD_EXTRA + WANDB_EXTRA + MLFLOW_EXTRA
# docs/python_api.md's hyper-parameter search around ppfcos.train.
OPTUNA_EXTRA = ["optuna"]
# The documentation site (mkdocs.yml, docs/): mkdocs build --strict, API pages from docstrings.
DOCS_EXTRA = ["mkdocs-material", "mkdocstrings[python]"]

# Console commands: each runs tools/<module>.py's main() (installed as ppfcos_tools) or
# ppfcos_runtime/infer.py's (what deploy/python/infer.py runs), with the same flags as the script.
TOOL_COMMANDS = {"train": "train", "eval": "eval", "infer": "infer", "export": "export_model",
                 "export-onnx": "export_onnx", "analyze": "analyze_results",
                 "check-dataset": "check_dataset", "x2coco": "x2coco",
                 "convert-weights": "convert_weights", "print-config": "print_config",
                 "make-synthetic-coco": "make_synthetic_coco",
                 "make-mosaic-coco": "make_mosaic_coco", "split-semi-coco": "split_semi_coco"}
CONSOLE_SCRIPTS = [f"ppfcos-{command}=ppfcos_tools.{module}:main"
                   for command, module in TOOL_COMMANDS.items()] + [
                   "ppfcos-deploy=ppfcos_runtime.infer:main",
                   "ppfcos-serve=ppfcos_runtime.serving.cli:main"]

# pip builds packages in an isolated environment whose sys.path hides the
# target environment's site-packages; a fresh interpreter without pip's
# isolation variables sees what is really installed.
_PROBE = (
    "import importlib.metadata as m, importlib.util as u, json;"
    "names = sorted({(d.metadata['Name'] or '').lower() for d in m.distributions()});"
    "dists = [n for n in names if n.startswith('paddlepaddle')];"
    "print(json.dumps({'dists': dists, 'module': u.find_spec('paddle') is not None,"
    " 'version': m.version(dists[0]) if dists else None}))"
)
_ISOLATION_VARS = ("PYTHONPATH", "PYTHONNOUSERSITE", "PYTHONHOME")


def installed_paddle():
    """(Paddle distributions installed for this interpreter, e.g. ['paddlepaddle-gpu'],
    the first one's version or None).

    A ``paddle`` module without distribution metadata counts as ['paddle'].
    """
    env = {k: v for k, v in os.environ.items() if k not in _ISOLATION_VARS}
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                             text=True, timeout=120, check=True).stdout
        found = json.loads(out.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return [], None
    return found["dists"] or (["paddle"] if found["module"] else []), found["version"]


def paddle_requirements(installed):
    """Require the CPU build only when no Paddle distribution is installed."""
    return [] if installed else [PADDLE_FALLBACK]


def onnx_requirements(paddle_version):
    """ONNX export (tools/export_onnx.py, --export_onnx) and deploy's --backend onnxruntime.
    paddle2onnx 2.x converts Paddle 3's programs and refuses to import beside Paddle 2.x,
    whose ProgramDesc programs (model.pdmodel) paddle2onnx 1.x converts. paddle2onnx 1.x
    does not bring the onnx package ppfcos edits the model with; 2.x does."""
    major = int(paddle_version.split(".")[0]) if paddle_version else 3   # develop builds: 0
    old = 0 < major < 3
    return ["paddle2onnx>=1.2,<2" if old else "paddle2onnx>=2.0", "onnx", "onnxruntime"]


if __name__ == "__main__":
    PADDLE_DISTS, PADDLE_VERSION = installed_paddle()
    ONNX_EXTRA = onnx_requirements(PADDLE_VERSION)
    # tools/export_model.py --quantize int8 (NNCF post-training quantization of model.onnx).
    QUANTIZE_EXTRA = ONNX_EXTRA + ["nncf"]
    setup(
        name="ppfcos",
        version="0.1.0",
        description="FCOS object detection in PaddlePaddle, compatible with PaddleDetection's "
                    "FCOS configs and weights",
        long_description=open("README.md", encoding="utf-8").read(),
        long_description_content_type="text/markdown",
        python_requires=">=3.9",
        # ppfcos_runtime is the runtime layer (exported models, the server): it imports no
        # ppfcos, so the folder also runs copied on its own. tools/ is installed as
        # ppfcos_tools, for the console commands.
        packages=find_packages(include=["ppfcos", "ppfcos.*", "ppfcos_runtime",
                                        "ppfcos_runtime.*"]) + ["ppfcos_tools"],
        package_dir={"ppfcos_tools": "tools"},
        entry_points={"console_scripts": CONSOLE_SCRIPTS},
        install_requires=["numpy", "opencv-python", "pyyaml", "pycocotools", "visualdl"]
        + paddle_requirements(PADDLE_DISTS),
        extras_require={"test": ["pytest>=7.3"] + QUANTIZE_EXTRA + OPENVINO_EXTRA + SLICE_EXTRA
                        + ANALYSIS_EXTRA + SUPERVISION_EXTRA + TRACK_EXTRA + DOCS_EXTRA
                        + SERVE_EXTRA + LOGGER_EXTRAS + OPTUNA_EXTRA,
                        "onnx": ONNX_EXTRA, "openvino": OPENVINO_EXTRA,
                        "quantize": QUANTIZE_EXTRA, "slice": SLICE_EXTRA,
                        "analysis": ANALYSIS_EXTRA, "supervision": SUPERVISION_EXTRA,
                        "track": TRACK_EXTRA,
                        "docs": DOCS_EXTRA, "serve": SERVE_EXTRA,
                        "tensorboard": TENSORBOARD_EXTRA, "wandb": WANDB_EXTRA,
                        "mlflow": MLFLOW_EXTRA, "optuna": OPTUNA_EXTRA},
    )
