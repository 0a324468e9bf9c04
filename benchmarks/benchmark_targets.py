"""Time Gt2FCOSTarget on one padded training image.

The image is 800x1216 (a COCO image after Resize([800, 1333])), padded by
PadBatch(pad_to_stride=128) to 896x1280, with 20 random boxes inside the
800x1216 area, and the arguments of fcos_r50_fpn_1x_coco's reader. Prints the
median time per image over --runs runs after --warmup runs, for ppfcos's
vectorized op and for a straightforward loop over the boxes (written here only
for comparison; the two must agree).

Usage (from the repository root):
    python benchmarks/benchmark_targets.py [--runs 50] [--boxes 20] [--no-loop]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from ppfcos.data.transforms.batch_operators import padded_shape  # noqa: E402
from ppfcos.data.transforms.fcos_target import Gt2FCOSTarget  # noqa: E402

CONFIG = dict(object_sizes_boundary=[64, 128, 256, 512], center_sampling_radius=1.5,
              downsample_ratios=[8, 16, 32, 64, 128], norm_reg_targets=True)


def random_boxes(rng, n, h, w):
    """n random x1, y1, x2, y2 boxes [n, 4] float32 of 8..600 px inside h x w, classes [n, 1]."""
    size = rng.uniform(8, 600, size=(n, 2))
    x1 = rng.uniform(0, w - size[:, 0])
    y1 = rng.uniform(0, h - size[:, 1])
    boxes = np.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]], axis=1).astype(np.float32)
    return boxes, rng.integers(0, 80, size=(n, 1)).astype(np.int32)


def loop_targets(op, h, w, boxes, classes):
    """Reference targets with a Python loop over the boxes (same rules, slow)."""
    out = {}
    for lvl, (stride, (lo, hi)) in enumerate(zip(op.downsample_ratios, op.size_ranges)):
        xs = np.arange(0, w, stride, dtype=np.float32) + np.float32(stride * op.num_shift)
        ys = np.arange(0, h, stride, dtype=np.float32) + np.float32(stride * op.num_shift)
        px, py = np.meshgrid(xs, ys)
        best_area = np.full(px.shape, np.inf, np.float32)
        best = np.zeros(px.shape, np.int64)
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            reg = np.stack([px - x1, py - y1, x2 - px, y2 - py], axis=-1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            rad = np.float32(op.center_sampling_radius * stride)
            inside = ((px > max(x1, cx - rad)) & (px < min(x2, cx + rad))
                      & (py > max(y1, cy - rad)) & (py < min(y2, cy + rad)))
            longest = reg.max(axis=-1)
            area = (x2 - x1) * (y2 - y1)
            take = inside & (longest > lo) & (longest < hi) & (area < best_area)
            best_area[take] = area
            best[take] = k
        pos = np.isfinite(best_area)
        x1, y1, x2, y2 = (boxes[best, i] for i in range(4))
        reg = np.stack([px - x1, py - y1, x2 - px, y2 - py], axis=-1)
        ctn = np.zeros(px.shape, np.float32)
        r = reg[pos]
        ratio_x = r[:, 0::2].min(1) / r[:, 0::2].max(1)
        ctn[pos] = np.sqrt(ratio_x * (r[:, 1::2].min(1) / r[:, 1::2].max(1)))
        out[f"labels{lvl}"] = np.where(pos, classes[best, 0] + 1, 0)[..., None].astype(np.int32)
        out[f"reg_target{lvl}"] = reg / stride if op.norm_reg_targets else reg
        out[f"centerness{lvl}"] = ctn[..., None]
    return out


def median_ms(fn, runs, warmup):
    """Median wall time of fn() in milliseconds over ``runs`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-loop", action="store_true", help="skip the loop version")
    args = parser.parse_args()

    im_h, im_w = 800, 1216
    _, h, w = padded_shape([(3, im_h, im_w)], 128)
    boxes, classes = random_boxes(np.random.default_rng(args.seed), args.boxes, im_h, im_w)
    op = Gt2FCOSTarget(**CONFIG)
    print(f"Gt2FCOSTarget, image {im_h}x{im_w} padded to {h}x{w}, {args.boxes} boxes, "
          f"median of {args.runs} runs after {args.warmup} warm-up")
    fast = median_ms(lambda: op.targets(h, w, boxes, classes), args.runs, args.warmup)
    print(f"  vectorized (ppfcos): {fast:8.2f} ms/image")
    if args.no_loop:
        return
    got, want = op.targets(h, w, boxes, classes), loop_targets(op, h, w, boxes, classes)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-5, err_msg=key)
    slow = median_ms(lambda: loop_targets(op, h, w, boxes, classes), args.runs, args.warmup)
    print(f"  per-box loop:        {slow:8.2f} ms/image  (outputs agree to 1e-5; "
          f"speed-up {slow / fast:.1f}x)")


if __name__ == "__main__":
    main()
