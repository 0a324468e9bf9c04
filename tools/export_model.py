"""Export trained weights to a static inference model for Paddle Inference (and ONNX).

    python tools/export_model.py -c configs/fcos_r50_fpn_1x_coco.yml -o weights=PATH_OR_URL
        [--output_dir output_inference] [--export_onnx [--opset 13]]

Writes output_dir/<config name>/ with model.json (or model.pdmodel), model.pdiparams
and infer_cfg.yml; deploy/python/infer.py runs it. --export_onnx also writes
model.onnx for ONNX Runtime (needs `pip install -e .[onnx]`; see tools/export_onnx.py).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import cli, tasks  # noqa: E402
from ppfcos.export.onnx import add_opset_flag, check_onnx_export, export_onnx  # noqa: E402


def export(cfg, args):
    extras = []
    if args.export_onnx:
        check_onnx_export(args.opset)   # a missing extra fails before the Paddle export
        extras.append(lambda model_dir: export_onnx(model_dir, args.opset))
    tasks.export(cfg, args.output_dir, extras)


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="output_inference",
                        help="the model goes to output_dir/<config name>/")
    parser.add_argument("--export_onnx", action="store_true",
                        help="also write model.onnx (ONNX Runtime), with decoding and NMS")
    add_opset_flag(parser)
    args = parser.parse_args(argv)
    return cli.run(export, args)


if __name__ == "__main__":
    sys.exit(main())
