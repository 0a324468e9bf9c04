"""Write grid mosaics of a COCO split's images (large images of small objects).

    python tools/make_mosaic_coco.py --anno dataset/synthetic/annotations/instances_val.json \\
        --image_dir dataset/synthetic/val --out dataset/synthetic_mosaic [--grid 4 4] [--num 50]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.data.mosaic import make_mosaic_coco  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anno", required=True, help="the split's COCO json")
    parser.add_argument("--image_dir", required=True, help="the split's image directory")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--grid", type=int, nargs=2, default=[4, 4], metavar=("ROWS", "COLS"))
    parser.add_argument("--num", type=int, default=50, help="number of mosaics")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        path = make_mosaic_coco(args.anno, args.image_dir, args.out, tuple(args.grid), args.num,
                                args.seed)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.num} mosaics -> {os.path.join(args.out, 'images')}, {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
