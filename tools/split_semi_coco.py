"""Split a COCO json into labelled and unlabelled parts for semi-supervised training.

    python tools/split_semi_coco.py --anno dataset/coco/annotations/instances_train2017.json \\
        --percent 10 --seed 1 [--out_dir dataset/coco/semi_annotations]

writes instances_train2017.1@10.json (10 % of the images, with their boxes) and
instances_train2017.1@10-unlabeled.json (the rest, images only), as PaddleDetection names them.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.data.semi_split import split_semi_coco  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anno", required=True, help="the COCO json to split")
    parser.add_argument("--percent", type=float, required=True,
                        help="percent of the images that keep their labels")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out_dir", default=None,
                        help="where to write the two files (default: beside --anno)")
    args = parser.parse_args(argv)
    try:
        labelled, unlabelled = split_semi_coco(args.anno, args.percent, args.seed,
                                               args.out_dir)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"labelled: {labelled}\nunlabelled: {unlabelled}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
