"""Convert a model exported by tools/export_model.py to ONNX for ONNX Runtime.

    python tools/export_onnx.py --model_dir output_inference/fcos_r50_fpn_1x_coco [--opset 13]

Writes model_dir/model.onnx: the same inputs (image, im_shape, scale_factor; any
batch and image size), outputs (bbox, bbox_num) and detections as the Paddle
model, decoding and NMS included. Needs `pip install -e .[onnx]`. Run it with
deploy/python/infer.py --backend onnxruntime.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.engine import cli  # noqa: E402
from ppfcos.utils.env import setup_logging  # noqa: E402
from ppfcos.export.onnx import add_opset_flag, export_onnx  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True,
                        help="directory written by tools/export_model.py")
    add_opset_flag(parser)
    args = parser.parse_args(argv)
    setup_logging(0)
    return cli.exit_code(lambda: export_onnx(args.model_dir, args.opset))


if __name__ == "__main__":
    sys.exit(main())
