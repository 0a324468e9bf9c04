"""Evaluate weights on a config's EvalDataset (COCO or VOC metric).

    python tools/eval.py -c configs/fcos_r50_fpn_1x_coco.yml -o weights=PATH_OR_URL [--classwise]
        [--output_eval DIR] [--predictor [--predictor_backend paddle|onnxruntime|openvino]
        [--precision fp32|bf16|int8 [--calib_dir DIR] [--calib_num 32]]]

--precision measures the mAP cost of bf16 (OpenVINO) or int8 (NNCF, calibrated on
--calib_dir through the TestReader; ONNX Runtime or OpenVINO) on the EvalDataset.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import cli, tasks  # noqa: E402
from ppfcos.export.calibration import add_calibration_flags  # noqa: E402
from ppfcos.export.predictor import BACKENDS, PRECISIONS  # noqa: E402


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--classwise", action="store_true", help="per-class AP table")
    parser.add_argument("--output_eval", default=None,
                        help="where bbox.json goes (default: save_dir/<config>)")
    cli.add_predictor_flag(parser)
    parser.add_argument("--predictor_backend", choices=BACKENDS, default="paddle",
                        help="with --predictor: Paddle Inference (default), or model.onnx in "
                        "ONNX Runtime or OpenVINO")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="with --predictor: fp32, bf16 (openvino) or int8 (onnxruntime, "
                        "openvino; needs --calib_dir)")
    add_calibration_flags(parser)
    args = parser.parse_args(argv)
    if (args.predictor_backend != "paddle" or args.precision != "fp32") and not args.predictor:
        parser.error("--predictor_backend and --precision apply with --predictor")
    return cli.run(lambda cfg, a: tasks.evaluate_weights(
        cfg, a.classwise, a.output_eval, a.predictor, a.predictor_backend, a.precision,
        a.calib_dir, a.calib_num), args)


if __name__ == "__main__":
    sys.exit(main())
