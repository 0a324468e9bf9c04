"""Train as tools/train.py does, then save this rank's parameters as
``save_dir/<config>/rank<R>.pdparams`` (to compare ranks of a distributed run)."""
import os
import sys

from ppfcos.engine import cli, tasks  # first: ppfcos binds zlib before paddle loads
import paddle  # noqa: E402


def dump_after_training(cfg, args):
    model = tasks.train(cfg, eval_snapshots=args.eval)
    rank = paddle.distributed.get_rank()
    paddle.save(model.state_dict(), os.path.join(tasks.save_dir_of(cfg), f"rank{rank}.pdparams"))


if __name__ == "__main__":
    parser = cli.config_parser(__doc__)
    parser.add_argument("--eval", action="store_true")
    sys.exit(cli.run(dump_after_training, parser.parse_args()))
