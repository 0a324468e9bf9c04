"""Hostile and careless configs, as a user hits them: tools/print_config.py and
tools/train.py in subprocesses. Loading is bounded (nested aliases, a _BASE_ fan-out, a
huge file), an error quotes a short excerpt of a value, print_config refuses what train
refuses, and a run that would do no training step refuses at start."""
import contextlib
import hashlib
import os
import signal

import pytest

import ppfcos
from ppfcos.core.config import MAX_ALIAS_VALUES, MAX_CONFIG_BYTES
from ppfcos.data.synthetic import make_synthetic_coco
from test_hostile_input import assert_one_line_error
from tool_runs import DEMO, TINY, data_overrides, run_tool

NAME = "fcos_r18_lite_synthetic"
# The unbounded loader ran for minutes on these files (killed at 60 s and 300 s); a
# refusal takes the tool's start-up (importing Paddle) and a fraction of a second more.
# TIMEOUT bounds a hang (the run is killed and the test fails); it is not a speed check.
TIMEOUT = 60
LONGEST_ERROR = 400   # characters of an error line quoting a value


def nested_aliases(levels=10, width=9):
    """YAML of ``levels`` mappings each aliasing the one before ``width`` times (~1 KB
    that expands to width**levels values)."""
    lines = ["l0: &l0 {" + ", ".join(f"k{i}: 1" for i in range(width)) + "}"]
    for level in range(1, levels + 1):
        keys = ", ".join(f"k{i}: *l{level - 1}" for i in range(width))
        lines.append(f"l{level}: &l{level} {{{keys}}}")
    return "\n".join(lines) + "\n"


def bounded_tool(tool, args, cwd, **kwargs):
    """The finished process of tools/<tool>.py (TimeoutExpired, failing the test, when it
    runs over TIMEOUT s: a loader that is not bounded)."""
    return run_tool(tool, args, str(cwd), timeout=TIMEOUT, **kwargs)


@contextlib.contextmanager
def hang_guard(seconds=TIMEOUT):
    """Fail the test with TimeoutError if its body runs over ``seconds`` (SIGALRM)."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: the loader is not bounded")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def error_line(result):
    """The one ``error:`` line of a refused run (after assert_one_line_error)."""
    return next(line for line in result.stderr.splitlines() if line.startswith("error:"))


def checksums(folder):
    """{file name: sha256} of the files in ``folder``."""
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(folder))}


def test_nested_aliases_are_refused_at_once_by_train(tmp_path):
    config = tmp_path / "aliases.yml"
    config.write_text(nested_aliases())
    assert config.stat().st_size < 1024
    result = bounded_tool("train", ["-c", str(config)], tmp_path)
    assert_one_line_error(result, f"{config}: its YAML aliases (*name) repeat",
                          f"values, over the limit of {MAX_ALIAS_VALUES}")
    assert len(error_line(result)) < LONGEST_ERROR


def test_the_python_api_refuses_them_as_well(tmp_path):
    """ppfcos.Detector with the nested aliases, an 8 MB override, and a long value."""
    config = tmp_path / "aliases.yml"
    config.write_text(nested_aliases())
    with hang_guard():
        with pytest.raises(ppfcos.ConfigError, match="its YAML aliases"):
            ppfcos.Detector(str(config), "unused.pdparams", device="cpu")
        huge, long = "num_classes=" + "x" * 8_000_000, "num_classes=" + "x" * 200_000
        with pytest.raises(ppfcos.ConfigError, match=f"is 8000012 characters, over the limit of "
                                                     f"{MAX_CONFIG_BYTES}") as err:
            ppfcos.Detector(DEMO, "unused.pdparams", device="cpu", overrides=[huge])
        assert len(str(err.value)) < LONGEST_ERROR
        with pytest.raises(ppfcos.ConfigError) as err:
            ppfcos.Detector(DEMO, "unused.pdparams", device="cpu", overrides=[long])
        assert str(err.value) == (f"command line (-o): num_classes must be a positive integer, "
                                  f"got '{'x' * 79}... (200002 characters)")


def test_a_huge_config_file_is_refused_unread(tmp_path):
    config = tmp_path / "huge.yml"
    with open(config, "wb") as f:   # 50 MB, sparse: one string value
        f.write(b"epoch: '")
        f.truncate(50 * 2 ** 20)
    result = bounded_tool("print_config", ["-c", str(config)], tmp_path)
    assert_one_line_error(result, f"{config}: the config file is {50 * 2 ** 20} bytes, over the "
                                  f"limit of {MAX_CONFIG_BYTES} bytes")


def test_an_error_quotes_a_short_excerpt_of_a_long_value(tmp_path):
    config = tmp_path / "long.yml"
    config.write_text(f"_BASE_: [{DEMO}]\nepoch: '{'x' * 200_000}'\n")
    result = bounded_tool("print_config", ["-c", str(config)], tmp_path)
    assert_one_line_error(result, f"{config}: epoch must be a positive integer, got "
                                  f"'{'x' * 79}... (200002 characters)")
    assert len(error_line(result)) < LONGEST_ERROR


def test_a_base_listed_many_times_is_read_once(tmp_path):
    """Nine files, each listing the next 8 times: 8**8 merges if each listing were read."""
    for i in range(8):
        (tmp_path / f"b{i}.yml").write_text("_BASE_: [" + ", ".join([f"b{i + 1}.yml"] * 8) + "]\n")
    (tmp_path / "b8.yml").write_text(f"_BASE_: [{DEMO}]\nepoch: 1\n")
    result = bounded_tool("print_config", ["-c", str(tmp_path / "b0.yml"), "--origins"],
                                 tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "\nepoch: 1\n" in result.stdout and f"#   epoch: {tmp_path}/b8.yml" in result.stdout


def test_print_config_refuses_an_unknown_key_as_train_does(tmp_path):
    args = ["-c", DEMO, "-o", "LearningRate.lerning_rate=0.1", f"save_dir={tmp_path}/out"]
    printed = run_tool("print_config", args, str(tmp_path), timeout=TIMEOUT)
    trained = run_tool("train", args, str(tmp_path), timeout=TIMEOUT)
    for result in (printed, trained):
        assert_one_line_error(result, "command line (-o): section LearningRate: unknown key "
                                      "'lerning_rate'", "Accepted keys: base_lr, schedulers")
    assert error_line(printed) == error_line(trained)
    assert printed.stdout == ""


@pytest.fixture(scope="module")
def five_images(tmp_path_factory):
    """A synthetic COCO dataset with 5 training images."""
    root = str(tmp_path_factory.mktemp("five") / "data")
    make_synthetic_coco(root, num_train=5, num_val=2, image_size=(64, 64))
    return root


def train_args(data, save_dir, *extra):
    return ["-c", DEMO, "-o", *TINY, *data_overrides(data), f"save_dir={save_dir}", "epoch=1",
            *extra]


def test_a_batch_larger_than_the_dataset_is_refused_and_keeps_the_last_model(five_images,
                                                                              tmp_path):
    out = tmp_path / "output" / NAME
    out.mkdir(parents=True)
    (out / "model_final.pdparams").write_bytes(b"an earlier run's weights")
    before = checksums(out)
    result = bounded_tool("train", train_args(five_images, tmp_path / "output",
                                                     "TrainReader.batch_size=8"), tmp_path)
    assert_one_line_error(result, "command line (-o): TrainReader.batch_size is 8 but the "
                                  "TrainDataset has 5 images and drop_last is true",
                          "set TrainReader.batch_size to 5 or less", "drop_last: false")
    after = checksums(out)
    after.pop(".lock", None)   # the run's hold on save_dir
    assert after == before


def test_each_process_share_counts_in_a_distributed_run(five_images, tmp_path):
    result = run_tool("train", train_args(five_images, tmp_path / "output",
                                          "TrainReader.batch_size=4"),
                      str(tmp_path), launch=True, timeout=TIMEOUT)
    # 1, or 241 (-15) when the launcher stopped the other worker (SIGTERM) once the first
    # refused: which worker refuses first depends on the machine's load.
    assert result.returncode != 0
    refusals = []
    for rank in (0, 1):
        log = (tmp_path / "launch_logs" / f"workerlog.{rank}").read_text()
        errors = [line for line in log.splitlines() if line.startswith("error:")]
        assert len(errors) <= 1 and "Traceback" not in log, log[-2000:]
        refusals += errors
    assert refusals, result.stderr[-2000:]
    for error in refusals:
        assert ("TrainReader.batch_size is 4 but each of the 2 processes gets 3 of the "
                "TrainDataset's 5 images") in error
        assert "-o TrainReader.batch_size=3" in error
    assert not (tmp_path / "output" / NAME / "model_final.pdparams").exists()


def test_without_drop_last_the_partial_batch_trains(five_images, tmp_path):
    args = train_args(five_images, tmp_path / "output", "TrainReader.batch_size=8",
                      "TrainReader.drop_last=false")
    result = run_tool("train", args, str(tmp_path), timeout=TIMEOUT * 2)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Epoch: [0] [1/1]" in result.stdout
    assert (tmp_path / "output" / NAME / "model_final.pdparams").exists()
