"""Evaluate weights on a config's EvalDataset (COCO or VOC metric).

    python tools/eval.py -c configs/fcos_r50_fpn_1x_coco.yml -o weights=PATH_OR_URL [--classwise]
        [--output_eval DIR] [--predictor]
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import cli, tasks  # noqa: E402


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--classwise", action="store_true", help="per-class AP table")
    parser.add_argument("--output_eval", default=None,
                        help="where bbox.json goes (default: save_dir/<config>)")
    cli.add_predictor_flag(parser)
    args = parser.parse_args(argv)
    return cli.run(lambda cfg, a: tasks.evaluate_weights(cfg, a.classwise, a.output_eval,
                                                         a.predictor), args)


if __name__ == "__main__":
    sys.exit(main())
