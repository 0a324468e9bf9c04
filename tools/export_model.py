"""Export trained weights to a static inference model for Paddle Inference.

    python tools/export_model.py -c configs/fcos_r50_fpn_1x_coco.yml -o weights=PATH_OR_URL
        [--output_dir output_inference]

Writes output_dir/<config name>/ with model.json (or model.pdmodel), model.pdiparams
and infer_cfg.yml; deploy/python/infer.py runs it.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import cli, tasks  # noqa: E402


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="output_inference",
                        help="the model goes to output_dir/<config name>/")
    args = parser.parse_args(argv)
    return cli.run(lambda cfg, a: tasks.export(cfg, a.output_dir), args)


if __name__ == "__main__":
    sys.exit(main())
