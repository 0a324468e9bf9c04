"""Check a config's datasets (or one COCO json) before training: every malformed record,
unreadable images, images without boxes, boxes outside the image, class and box statistics
as plots, and optionally samples drawn after the TrainReader's transforms.

    python tools/check_dataset.py -c configs/demo/fcos_r18_lite_synthetic.yml [-o ...]
        [--splits train eval] [--browse 16] [--output_dir DIR] [--no_plots] [--skip_images]
    python tools/check_dataset.py --coco dataset/coco/annotations/instances_val2017.json \\
        --image_dir dataset/coco/val2017

Writes report.txt, report.json and <split>_{classes,box_sizes,aspect_ratios}.png to
--output_dir (default output/check_dataset/<config name>), prints the report, and exits
1 if a split has errors or unreadable images.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.core.config import Config, ConfigError  # noqa: E402
from ppfcos.data import check as dataset_check  # noqa: E402
from ppfcos.data.datasets import DatasetError  # noqa: E402
from ppfcos.engine import cli  # noqa: E402
import ppfcos  # noqa: E402,F401  (registers the datasets and transforms)


def coco_config(anno_file, image_dir):
    """A config holding only a TrainDataset reading ``anno_file`` (--coco)."""
    anno_file = os.path.abspath(anno_file)
    data = {"TrainDataset": {"name": "COCODataSet", "dataset_dir": "",
                             "image_dir": os.path.abspath(image_dir
                                                          or os.path.dirname(anno_file)),
                             "anno_path": anno_file,
                             "data_fields": ["image", "gt_bbox", "gt_class", "is_crowd"]}}
    return Config(data, {}, anno_file)


def check(cfg, args):
    out_dir = args.output_dir or os.path.join("output", "check_dataset", cfg.name)
    splits = [s for s in args.splits if dataset_check.SPLITS[s] in cfg]
    if not splits:
        sections = ", ".join(dataset_check.SPLITS[s] for s in args.splits)
        raise ConfigError(f"{cfg.name}: the config has none of {sections}")
    reports = {s: dataset_check.check_split(cfg, dataset_check.SPLITS[s], not args.skip_images)
               for s in splits}
    for line in dataset_check.write_report(reports, out_dir):
        print(line)
    if not args.no_plots:
        from ppfcos.data.check_plots import plot_split
        for split, report in reports.items():
            if not report.fatal:
                plot_split(split, report, out_dir)
    if args.browse:
        if "TrainReader" not in cfg:
            raise ConfigError("--browse draws samples after the TrainReader's transforms: "
                                  "give a config with a TrainReader (-c)")
        files = dataset_check.browse(cfg, args.browse, os.path.join(out_dir, "browse"),
                                     args.seed)
        print(f"browse: {len(files)} samples drawn in {os.path.join(out_dir, 'browse')}")
    print(f"report written to {out_dir}")
    bad = [s for s, r in reports.items() if not r.ok]
    if bad:
        raise DatasetError("dataset", f"problems found in {', '.join(bad)}: see "
                                          f"{os.path.join(out_dir, 'report.txt')}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-c", "--config", help="config file (YAML)")
    source.add_argument("--coco", help="a COCO annotation json to check instead of a config")
    parser.add_argument("--image_dir", help="with --coco: the images' folder (default: the "
                                            "json's folder)")
    parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[],
                        help="override config values: -o key=value ...")
    parser.add_argument("--splits", nargs="+", choices=sorted(dataset_check.SPLITS),
                        default=["train", "eval"], help="dataset sections to check")
    parser.add_argument("--output_dir", help="where the report and plots go")
    parser.add_argument("--browse", type=int, default=0, metavar="N",
                        help="draw N training samples with their boxes after the "
                             "TrainReader's sample transforms")
    parser.add_argument("--seed", type=int, default=0, help="which samples --browse draws")
    parser.add_argument("--no_plots", action="store_true", help="skip the plots (matplotlib)")
    parser.add_argument("--skip_images", action="store_true",
                        help="do not decode the images (faster; no unreadable-image check)")
    args = parser.parse_args(argv)
    if args.coco:
        return cli.exit_code(lambda: check(coco_config(args.coco, args.image_dir), args))
    return cli.run(check, args)


if __name__ == "__main__":
    sys.exit(main())
