"""Evaluate weights on a config's EvalDataset (COCO or VOC metric).

    python tools/eval.py -c configs/fcos_r50_fpn_1x_coco.yml -o weights=PATH_OR_URL [--classwise]
        [--output_eval DIR] [--save_prediction_only] [--tta]
        [--predictor [--predictor_backend paddle|onnxruntime|openvino]
         [--precision fp32|bf16|int8 [--calib_dir DIR] [--calib_num 32]]]
        [--slice_infer --slice_size H W --overlap_ratio RH RW --combine_method nms|concat
         --match_threshold T --match_metric iou|ios]
    python tools/eval.py -c CONFIG --json_eval --output_eval DIR   # score DIR/bbox.json
    python tools/eval.py -c CONFIG -o weights=... --analyze [--analysis_dir DIR]
        [--iou_threshold 0.5] [--score_threshold 0.25] [--num_images 8]

--precision measures the mAP cost of bf16 (Paddle Inference with oneDNN, or OpenVINO)
or int8 (NNCF, calibrated on --calib_dir through the TestReader; ONNX Runtime or
OpenVINO) on the EvalDataset.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.engine import cli, tasks  # noqa: E402
from ppfcos.export.calibration import add_calibration_flags  # noqa: E402
from ppfcos_runtime.predictor import (BACKENDS, PRECISIONS, backends_help,  # noqa: E402
                                     precisions_help)


def evaluate(cfg, args):
    if args.analyze:
        options = cli.analysis_options(args)
        tasks.check_analyzable(cfg)
    results = score(cfg, args)
    if args.analyze:
        tasks.analyze_saved(cfg, eval_dir=args.output_eval, output_dir=args.analysis_dir,
                            options=options)
    return results


def score(cfg, args):
    if args.json_eval:
        return tasks.evaluate_json(cfg, output_dir=args.output_eval, classwise=args.classwise)
    return tasks.evaluate_weights(
        cfg, classwise=args.classwise, output_dir=args.output_eval, predictor=args.predictor,
        slicing=cli.slice_options(args), save_prediction_only=args.save_prediction_only,
        backend=args.predictor_backend, precision=args.precision, calib_dir=args.calib_dir,
        calib_num=args.calib_num, tta=args.tta)


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    cli.add_bool_flag(parser, "--classwise", help="per-class AP table")
    parser.add_argument("--output_eval", default=None,
                        help="where bbox.json is written, or read by --json_eval "
                        "(default: save_dir/<config>)")
    cli.add_bool_flag(parser, "--json_eval", help="score the bbox.json in --output_eval "
                      "against the EvalDataset, without running a model")
    cli.add_bool_flag(parser, "--save_prediction_only", help="write bbox.json (COCO results: "
                      "image_id, category_id, bbox [x, y, w, h], score) and do not evaluate, "
                      "e.g. for COCO test-dev")
    cli.add_bool_flag(parser, "--analyze", help="then analyse the detections: confusion "
                      "matrix, PR and F1 curves, TIDE errors, worst and best images (see "
                      "tools/analyze_results.py)")
    cli.add_analysis_flags(parser)
    cli.add_tta_flag(parser)
    cli.add_predictor_flag(parser)
    parser.add_argument("--predictor_backend", choices=list(BACKENDS), default="paddle",
                        help=f"with --predictor: {backends_help()}")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help=f"with --predictor: {precisions_help()} (int8 needs --calib_dir)")
    add_calibration_flags(parser)
    cli.add_slice_flags(parser)
    cli.add_unsupported_flags(parser, {
        **cli.SLIM,
        "--bias": "use the default: boxes are scored as [x, y, x2 - x1, y2 - y1] with no +1, "
                  "as PaddleDetection's COCO metric does without --bias",
        "--amp": "use tools/train.py --amp: evaluation runs in float32"})
    args = parser.parse_args(argv)
    if (args.predictor_backend != "paddle" or args.precision != "fp32") and not args.predictor:
        parser.error("--predictor_backend and --precision apply with --predictor")
    return cli.run(evaluate, args)


if __name__ == "__main__":
    sys.exit(main())
