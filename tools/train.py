"""Train a detector from a config.

    python tools/train.py -c configs/fcos_r50_fpn_1x_coco.yml [-o key=value ...] [--eval]
        [-r output/fcos_r50_fpn_1x_coco/epoch_6] [--amp] [--use_vdl] [--vdl_log_dir DIR] [--seed N]
        [--predictor]
    python -m paddle.distributed.launch --gpus 0,1,2,3,4,5,6,7 tools/train.py -c ...
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.engine import cli, tasks  # noqa: E402


def main(argv=None):
    parser = cli.config_parser(__doc__.splitlines()[0])
    parser.add_argument("--eval", action="store_true",
                        help="evaluate every snapshot_epoch and keep best_model by mAP")
    parser.add_argument("-r", "--resume", default=None,
                        help="snapshot to resume from (e.g. output/<config>/epoch_6)")
    parser.add_argument("--amp", action="store_true", help="mixed precision (GPU only)")
    parser.add_argument("--use_vdl", action="store_true", help="log scalars to VisualDL")
    parser.add_argument("--vdl_log_dir", default=None,
                        help="VisualDL log directory (default: save_dir/<config>/vdl)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cli.add_predictor_flag(parser)
    args = parser.parse_args(argv)
    return cli.run(lambda cfg, a: tasks.train(cfg, a.resume, a.eval, a.amp, a.use_vdl,
                                              a.vdl_log_dir, a.seed, a.predictor), args)


if __name__ == "__main__":
    sys.exit(main())
