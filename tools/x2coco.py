"""Convert VOC, LabelMe or YOLO annotations to COCO json, with a train/val split.

    python tools/x2coco.py --from voc --anno_dir VOC/Annotations --image_dir VOC/JPEGImages \
        --output_dir DIR [--classes label_list.txt] [--val_ratio 0.2] [--seed 0]
    python tools/x2coco.py --from labelme --anno_dir JSONS [--image_dir IMAGES] --output_dir DIR
    python tools/x2coco.py --from yolo --anno_dir labels --image_dir images \
        --classes data.yaml --output_dir DIR

Writes DIR/instances_train.json (and DIR/instances_val.json with --val_ratio > 0), file
names relative to --image_dir, and prints the dataset section to use in a config.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

import argparse  # noqa: E402

from ppfcos.data.converters import FORMATS, read_annotations, write_coco_splits  # noqa: E402
from ppfcos.engine import cli  # noqa: E402
from ppfcos.utils.env import logger, setup_logging  # noqa: E402


def convert(args):
    image_dir = args.image_dir or args.anno_dir
    samples, class_names = read_annotations(args.source, args.anno_dir, image_dir,
                                            args.classes)
    written = write_coco_splits(samples, class_names, args.output_dir, args.val_ratio,
                                args.seed)
    boxes = sum(len(s.boxes) for s in samples)
    logger.info("%d images, %d boxes, %d classes (%s)", len(samples), boxes, len(class_names),
                ", ".join(class_names))
    for split, (path, count) in written.items():
        logger.info("%s: %s (%d images)", split, path, count)
    logger.info("in a config: dataset_dir: %s, image_dir: %s, anno_path: %s, num_classes: %d",
                os.path.abspath(image_dir), ".",
                os.path.abspath(written["train"][0]), len(class_names))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, choices=FORMATS,
                        help="the annotation format")
    parser.add_argument("--anno_dir", required=True, help="folder of the annotation files "
                        "(.xml, .json or .txt)")
    parser.add_argument("--image_dir", default=None, help="folder the images are in; COCO's "
                        "file names are relative to it (default: --anno_dir)")
    parser.add_argument("--classes", default=None, help="class names, one a line, or a YAML "
                        "file with 'names' (needed for yolo; else the labels found, sorted)")
    parser.add_argument("--output_dir", required=True, help="where the json files go")
    parser.add_argument("--val_ratio", type=float, default=0.0, help="share of the images "
                        "drawn for instances_val.json, in [0, 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val draw")
    args = parser.parse_args(argv)
    if not 0.0 <= args.val_ratio < 1.0:
        parser.error(f"--val_ratio must be in [0, 1), got {args.val_ratio}")
    setup_logging(0)
    return cli.exit_code(lambda: convert(args))


if __name__ == "__main__":
    sys.exit(main())
