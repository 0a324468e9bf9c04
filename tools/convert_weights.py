"""Convert a checkpoint of another framework into a .pdparams file for a config's model.

    python tools/convert_weights.py -c configs/fcos_r50_caffe_fpn_gn-head_1x_coco.yml \
        --from mmdet --input fcos_r50_caffe_fpn_gn-head_1x_coco-821213aa.pth \
        --output fcos_r50_caffe_fpn_gn-head_1x_coco.pdparams
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.checkpoint.conversion import SOURCES, convert_weights  # noqa: E402
from ppfcos.engine import cli  # noqa: E402
from ppfcos.modeling import build_model  # noqa: E402


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, choices=sorted(SOURCES),
                        help="framework the checkpoint comes from")
    parser.add_argument("--input", required=True, help="checkpoint file (.pth)")
    parser.add_argument("--output", required=True, help="weights file to write (.pdparams)")
    args = parser.parse_args(argv)

    def convert(cfg, a):
        count = convert_weights(build_model(cfg), a.source, a.input, a.output)
        print(f"wrote {count} tensors to {a.output}")
    return cli.run(convert, args)


if __name__ == "__main__":
    sys.exit(main())
