"""See what the detector gets wrong: confusion matrix, PR and F1 curves, TIDE errors, and
the worst and best images, written as PNGs with their numbers (CSV, JSON).

    python tools/analyze_results.py -c CONFIG -o weights=PATH_OR_URL [--output_eval DIR]
        [--output_dir DIR] [--iou_threshold 0.5] [--score_threshold 0.25] [--num_images 8]
    python tools/analyze_results.py -c CONFIG --json_eval --output_eval DIR   # DIR/bbox.json

With weights, the EvalDataset is evaluated first (bbox.json written to --output_eval,
default save_dir/<config>); --json_eval analyses a saved bbox.json instead. The analysis
goes to --output_dir (default: the bbox.json folder's analysis/). Needs the analysis
extra (matplotlib, tidecv): pip install -e .[analysis]
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.engine import cli, tasks  # noqa: E402


def analyze(cfg, args):
    options = cli.analysis_options(args)
    tasks.check_analyzable(cfg)
    if not args.json_eval:
        tasks.evaluate_weights(cfg, output_dir=args.output_eval)
    return tasks.analyze_saved(cfg, eval_dir=args.output_eval, output_dir=args.analysis_dir,
                               options=options)


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--output_eval", default=None, help="where bbox.json is written, or "
                        "read with --json_eval (default: save_dir/<config>)")
    cli.add_bool_flag(parser, "--json_eval", help="analyse the bbox.json in --output_eval "
                      "without running a model")
    cli.add_analysis_flags(parser, ("--output_dir", "--analysis_dir"))
    return cli.run(analyze, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
