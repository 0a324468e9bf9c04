"""Detect objects in images and draw them.

    python tools/infer.py -c configs/fcos_r50_fpn_1x_coco.yml -o weights=PATH_OR_URL
        (--infer_img FILE | --infer_dir DIR) [--draw_threshold 0.5] [--output_dir output]
        [--save_results]
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import cli, tasks  # noqa: E402


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--infer_img", help="an image file")
    source.add_argument("--infer_dir", help="a directory of images (searched recursively)")
    parser.add_argument("--draw_threshold", type=float, default=0.5,
                        help="draw (and save) detections with at least this score")
    parser.add_argument("--output_dir", default="output", help="where drawn images go")
    parser.add_argument("--save_results", action="store_true",
                        help="also write the detections to output_dir/bbox.json")
    args = parser.parse_args(argv)
    return cli.run(lambda cfg, a: tasks.infer(cfg, a.infer_img or a.infer_dir, a.output_dir,
                                              a.draw_threshold, a.save_results), args)


if __name__ == "__main__":
    sys.exit(main())
