"""Command-line plumbing: -c/-o parsing, the config handed to a tool, exit codes and
one-paragraph errors."""
import argparse

import pytest

from ppfcos.checkpoint.errors import WeightsError
from ppfcos.core.config import ConfigError
from ppfcos.engine import cli


def test_config_and_repeated_overrides_are_parsed():
    parser = cli.config_parser("a tool")
    cli.add_predictor_flag(parser)
    args = parser.parse_args(["-c", "a.yml", "-o", "epoch=2", "num_classes=3", "--opt", "x.y=1"])
    assert (args.config, args.opt, args.predictor) == ("a.yml", ["epoch=2", "num_classes=3",
                                                                 "x.y=1"], False)
    assert parser.parse_args(["--config", "b.yml", "--predictor"]).predictor is True
    assert parser.parse_args(["-c", "b.yml"]).opt == []


def test_a_missing_config_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.config_parser("a tool").parse_args([])
    assert exit_.value.code == 2
    assert "-c/--config" in capsys.readouterr().err


def test_run_hands_the_loaded_config_with_overrides_to_the_tool(write_yaml):
    path = write_yaml("tool.yml", "epoch: 12\nsave_dir: output\n")
    seen = []
    args = argparse.Namespace(config=path, opt=["epoch=3"])
    assert cli.run(lambda cfg, a: seen.append((cfg["epoch"], cfg["save_dir"], a)), args) == 0
    assert seen == [(3, "output", args)]


def test_user_errors_exit_1_with_one_line_and_others_propagate(write_yaml, capsys):
    args = argparse.Namespace(config=write_yaml("bad.yml", "epoch: 12\nepcoh: 3\n"), opt=[])
    assert cli.run(lambda cfg, a: None, args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {args.config}: section top level: unknown key 'epcoh'. "
                          f"Did you mean 'epoch'?")
    assert err.count("\n") == 1 and "Traceback" not in err

    def fail(error):
        raise error
    for error in (ConfigError("set weights"), WeightsError("bad file"),
                  FileNotFoundError("no such file: x.jpg")):
        assert cli.exit_code(lambda: fail(error)) == 1
        assert capsys.readouterr().err == f"error: {error}\n"
    with pytest.raises(ZeroDivisionError):               # a bug keeps its traceback
        cli.exit_code(lambda: 1 / 0)
