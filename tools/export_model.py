"""Export trained weights to a static inference model for Paddle Inference (and ONNX, int8).

    python tools/export_model.py -c configs/fcos_r50_fpn_1x_coco.yml -o weights=PATH_OR_URL
        [--output_dir output_inference] [--export_onnx [--opset 13]]
        [--quantize int8 --calib_dir DIR [--calib_num 32]] [--edge 640x640]

Writes output_dir/<config name>/ with model.json (or model.pdmodel), model.pdiparams
and infer_cfg.yml; deploy/python/infer.py runs it. --export_onnx also writes
model.onnx for ONNX Runtime and OpenVINO (needs `pip install -e .[onnx]`; see
tools/export_onnx.py). --quantize int8 also writes model.onnx and model_int8.onnx,
calibrated on up to --calib_num images of --calib_dir through the config's TestReader
(needs `pip install -e .[quantize]`). --edge HxW writes the edge profile for NPUs
(image the only input, fixed at 1x3xHxW, no NMS: ppfcos/export/edge.py) with its
model.onnx, both checked static (needs the onnx extra).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.core.config import ConfigError  # noqa: E402
from ppfcos.engine import cli, tasks  # noqa: E402
from ppfcos.export.calibration import (add_calibration_flags, calibration_inputs,  # noqa: E402
                                       check_calib_dir)
from ppfcos.export.edge import parse_edge_size  # noqa: E402
from ppfcos.export.onnx import add_opset_flag, check_onnx_export, export_onnx  # noqa: E402
from ppfcos.export.quantize import quantize_int8, require_nncf  # noqa: E402


def export(cfg, args):
    extras = []
    edge_size = parse_edge_size(args.edge) if args.edge is not None else None
    if edge_size is not None and args.quantize:
        raise ConfigError("--edge and --quantize int8: NPU toolchains quantize the edge "
                          "model.onnx themselves; drop --quantize")
    if args.quantize:
        check_calib_dir(args.calib_dir, "--quantize int8")
    if args.export_onnx or args.quantize or edge_size is not None:
        check_onnx_export(args.opset)   # a missing extra fails before the Paddle export
        extras.append(lambda model_dir: export_onnx(model_dir, args.opset))
    if args.quantize:
        require_nncf()
        fused = bool((cfg.get("TestReader") or {}).get("fuse_normalize", False))
        extras.append(lambda model_dir: quantize_int8(model_dir, calibration_inputs(
            cfg, args.calib_dir, args.calib_num, normalize_in_graph=fused)))
    tasks.export(cfg, output_dir=args.output_dir, extras=extras,   # extras write into the export
                 edge_size=edge_size)


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="output_inference",
                        help="the model goes to output_dir/<config name>/")
    cli.add_bool_flag(parser, "--export_onnx",
                      help="also write model.onnx (ONNX Runtime, OpenVINO), with decoding "
                      "and NMS")
    add_opset_flag(parser)
    parser.add_argument("--quantize", choices=["int8"], default=None,
                        help="also write model_int8.onnx: the network post-training "
                        "quantized with NNCF (decoding and NMS stay float32)")
    add_calibration_flags(parser)
    parser.add_argument("--edge", metavar="HxW", default=None,
                        help="export the edge profile for NPUs at this fixed input size "
                        "(e.g. 640x640, multiples of the config's pad_to_stride): image the "
                        "only input, no NMS in the graph, model.onnx written too (opset "
                        "13 unless --opset), every shape checked static")
    cli.add_unsupported_flags(parser, {
        **cli.SLIM,
        "--export_serving_model": "use deploy/python/infer.py (Paddle Inference, or "
                                  "--backend onnxruntime) on the export; Paddle Serving "
                                  "models are not written",
        "--for_fd": "use deploy/python/infer.py on the export; FastDeploy layouts are not "
                    "written",
        "--tta": "test-time augmentation runs in dygraph only (tools/eval.py --tta, "
                 "tools/infer.py --tta, ppfcos.Detector(tta=True)); an export has one view"})
    args = parser.parse_args(argv)
    return cli.run(export, args)


if __name__ == "__main__":
    sys.exit(main())
