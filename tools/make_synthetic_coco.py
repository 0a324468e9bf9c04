"""Write the synthetic COCO shapes dataset (see ppfcos/data/synthetic.py).

Example, from the repository root:

    python tools/make_synthetic_coco.py --out dataset/synthetic_coco
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

import argparse  # noqa: E402
import time  # noqa: E402

from ppfcos.data.synthetic import make_synthetic_coco  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True,
                        help="output directory: new, empty, or an earlier synthetic dataset")
    parser.add_argument("--num-train", type=int, default=800, help="train images (default 800)")
    parser.add_argument("--num-val", type=int, default=200, help="val images (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--image-size", type=int, nargs="+", default=[256, 384],
                        metavar="SIDE",
                        help="MIN MAX range of image height and width, or one fixed SIDE "
                             "(default 256 384)")
    args = parser.parse_args(argv)
    if len(args.image_size) > 2:
        parser.error("--image-size takes one or two values")
    return args


def main(argv=None):
    args = parse_args(argv)
    min_side, max_side = args.image_size[0], args.image_size[-1]
    start = time.perf_counter()
    try:
        summary = make_synthetic_coco(args.out, num_train=args.num_train,
                                      num_val=args.num_val, seed=args.seed,
                                      image_size=(min_side, max_side))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    print(f"synthetic COCO dataset in {summary['out_dir']} "
          f"(categories: {', '.join(summary['categories'])})")
    for split, info in summary["splits"].items():
        print(f"  {split}: {info['num_images']} images ({info['num_empty']} empty), "
              f"{info['num_annotations']} boxes -> {info['image_dir']}, {info['ann_file']}")
    total = sum(info["num_images"] for info in summary["splits"].values())
    print(f"wrote {total} images in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
