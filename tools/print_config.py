"""Print a config as ppfcos resolves it (bases merged, tags expanded, -o applied).

    python tools/print_config.py -c configs/fcos_r50_fpn_1x_coco.yml [-o key=value ...] [--origins]

The config is loaded and checked as every tool loads it (an unknown key or a wrong
value is the one-line error train gives, exit status 1).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.engine import cli  # noqa: E402


def show(cfg, args):
    print(cfg.dump(), end="")
    if args.origins:
        print("\n# where each section was last set:")
        for key in cfg:
            print(f"#   {key}: {cfg.origin(key)}")


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--origins", action="store_true",
                        help="also list which file set each top-level section")
    return cli.run(show, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
