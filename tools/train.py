"""Train a detector from a config.

    python tools/train.py -c configs/fcos_r50_fpn_1x_coco.yml [-o key=value ...] [--eval]
        [-r output/fcos_r50_fpn_1x_coco/epoch_6] [--amp] [--use_vdl] [--vdl_log_dir DIR]
        [--use_tensorboard] [--use_wandb] [--use_mlflow] [--seed N] [--predictor]
    python -m paddle.distributed.launch --gpus 0,1,2,3,4,5,6,7 tools/train.py -c ...
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos_runtime.paddle_compat import print_unsupported_paddle_in_one_line  # noqa: E402

print_unsupported_paddle_in_one_line()   # before ppfcos's import, which may refuse the Paddle

from ppfcos.engine import cli, tasks  # noqa: E402


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    cli.add_bool_flag(parser, "--eval",
                      help="evaluate every snapshot_epoch and keep best_model by mAP")
    parser.add_argument("-r", "--resume", default=None,
                        help="snapshot to resume from (e.g. output/<config>/epoch_6)")
    cli.add_bool_flag(parser, "--amp", help="mixed precision (GPU only)")
    cli.add_logger_flags(parser)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cli.add_predictor_flag(parser)
    cli.add_unsupported_flags(parser, {
        **cli.SLIM,
        "--fleet": "use python -m paddle.distributed.launch --gpus 0,1,... tools/train.py",
        "--profiler_options": "use benchmarks/benchmark.py for timings",
        "--save_proposals": "use tools/infer.py --save_results: FCOS is one-stage and has "
                            "no proposals",
        "--to_static": "training runs in dygraph; tools/export_model.py writes the static "
                       "program",
        "--enable_ce": "use --seed N for repeatable runs",
        "--save_prediction_only": "use tools/eval.py --save_prediction_only on a snapshot"})
    args = parser.parse_args(argv)
    return cli.run(lambda cfg, a: tasks.train(
        cfg, resume=a.resume, eval_snapshots=a.eval, amp=a.amp, loggers=cli.logger_options(a),
        seed=a.seed, predictor=a.predictor), args)


if __name__ == "__main__":
    sys.exit(main())
