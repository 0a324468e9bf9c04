"""Print a config as ppfcos resolves it (bases merged, tags expanded, -o applied).

    python tools/print_config.py -c configs/fcos_r50_fpn_1x_coco.yml [-o key=value ...] [--origins]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.core.config import ConfigError, load_config  # noqa: E402
import ppfcos  # noqa: E402,F401  (registers components so sections are validated)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="config file")
    parser.add_argument("-o", "--opt", nargs="*", default=[], help="overrides: key=value")
    parser.add_argument("--origins", action="store_true",
                        help="also list which file set each top-level section")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.opt)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(cfg.dump(), end="")
    if args.origins:
        print("\n# where each section was last set:")
        for key in cfg:
            print(f"#   {key}: {cfg.origin(key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
