"""Detect objects in images and draw them.

    python tools/infer.py -c configs/fcos_r50_fpn_1x_coco.yml -o weights=PATH_OR_URL
        (--infer_img FILE | --infer_dir DIR [--infer_list LIST]) [--draw_threshold 0.5]
        [--output_dir output] [--save_results [--save_threshold 0.5]] [--visualize False]
        [--tta] [--save_dataset DIR [--class_thresholds NAME=SCORE,...]]
        [--slice_infer --slice_size H W --overlap_ratio RH RW --combine_method nms|concat
         --match_threshold T --match_metric iou|ios]
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.core.config import ConfigError  # noqa: E402
from ppfcos.engine import cli, tasks  # noqa: E402


def test_images(args):
    """The images to detect in: --infer_img (first, as PaddleDetection), the names listed
    in --infer_list (relative to --infer_dir), or --infer_dir itself."""
    if args.infer_img:
        return args.infer_img
    if args.infer_dir is None:
        raise ConfigError("give --infer_img FILE or --infer_dir DIR (with --infer_list LIST)")
    if args.infer_list is None:
        return args.infer_dir
    if not os.path.isfile(args.infer_list):
        raise FileNotFoundError(f"--infer_list file not found: {args.infer_list}")
    with open(args.infer_list, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ConfigError(f"--infer_list {args.infer_list} lists no images")
    return [os.path.join(args.infer_dir, name) for name in names]


def infer(cfg, args):
    return tasks.infer(cfg, test_images(args), output_dir=args.output_dir,
                       draw_threshold=args.draw_threshold, save_results=args.save_results,
                       save_threshold=args.save_threshold, visualize=args.visualize,
                       slicing=cli.slice_options(args), tta=args.tta,
                       save_dataset=args.save_dataset, class_thresholds=args.class_thresholds)


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--infer_img", help="an image file (used first when given)")
    parser.add_argument("--infer_dir", help="a directory of images (searched recursively)")
    parser.add_argument("--infer_list", help="a text file of image names, one a line, "
                        "relative to --infer_dir")
    parser.add_argument("--draw_threshold", type=float, default=0.5,
                        help="draw detections with at least this score")
    parser.add_argument("--save_threshold", type=float, default=0.5,
                        help="save detections with at least this score (--save_results, "
                        "--save_dataset)")
    parser.add_argument("--output_dir", default="output", help="where the results go")
    cli.add_bool_flag(parser, "--save_results", help="also write the detections to "
                      "output_dir/bbox.json (dataset category ids and class names)")
    parser.add_argument("--save_dataset", default=None, metavar="DIR", help="also write the "
                        "detections scoring --save_threshold or more as a dataset into DIR "
                        "(new or empty): COCO annotations.json, yolo/ and labelme/")
    parser.add_argument("--class_thresholds", default=None, metavar="NAME=SCORE,...",
                        help="per-class score thresholds of --save_dataset (others: "
                        "--save_threshold)")
    cli.add_bool_flag(parser, "--visualize", default=True,
                      help="write the images with their detections drawn")
    cli.add_tta_flag(parser)
    cli.add_slice_flags(parser)
    cli.add_unsupported_flags(parser, {
        **cli.SLIM,
        "--use_vdl": "use --output_dir for the drawn images (VisualDL logging is for "
                     "training: tools/train.py --use_vdl)",
        "--do_eval": "use tools/eval.py for metrics",
        "--rtn_im_file": "bbox.json records always carry the image path (\"image\")"})
    args = parser.parse_args(argv)
    return cli.run(infer, args)


if __name__ == "__main__":
    sys.exit(main())
