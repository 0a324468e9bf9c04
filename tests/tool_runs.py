"""Running the tools as a user does: real subprocesses on the demo config, shrunk to seconds."""
import hashlib
import os
import subprocess
import sys

from conftest import CONFIGS, REPO

DEMO = os.path.join(CONFIGS, "demo", "fcos_r18_lite_synthetic.yml")
# The demo network shrunk to seconds per run; the code paths are the demo's.
TINY = ["ResNet.base_channels=8", "ResNet.ch_in=8", "FPN.out_channel=16",
        "FCOSHead.fcos_feat.feat_out=16", "LearningRate.total_batch_size=4",
        "LearningRate.schedulers=[{name: CosineDecay, max_epochs: 2}, "
        "{name: LinearWarmup, steps: 2, start_factor: 0.1}]", "TrainReader.batch_size=4",
        "log_iter=2"]


def data_overrides(root):
    return [f"{section}.dataset_dir={root}"
            for section in ("TrainDataset", "EvalDataset", "TestDataset")]


def tool(name, data, *options):
    """The command running tools/<name>.py on the tiny demo config over the dataset in
    ``data``, with more ``-o`` overrides and then flags in ``options``."""
    return [sys.executable, os.path.join(REPO, "tools", f"{name}.py"), "-c", DEMO, "-o",
            *TINY, *data_overrides(data), *options]


def one_error_line(expected_code, returncode, stdout, stderr):
    """The one ``error:`` line of a tool that exited with ``expected_code``, after
    checking that it printed no traceback and no Paddle C++ dump."""
    assert returncode == expected_code, (stdout + stderr)[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    for dump in ("Traceback", "FatalError", "C++ Traceback"):
        assert dump not in stderr and dump not in stdout, (stdout + stderr)[-3000:]
    return errors[0]


def checksums(directory):
    """{file name: SHA-256} of the files in ``directory`` (a pathlib.Path)."""
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(directory))}


def run_tool(tool, args, cwd, launch=False, timeout=600, preexec_fn=None, pythonpath=()):
    """Run tools/<tool>.py or a script path (optionally under paddle.distributed.launch
    with 2 processes); returns the finished process (TimeoutExpired after ``timeout`` s).
    ``preexec_fn``: called in the child before the tool starts (limits). ``pythonpath``:
    folders searched for modules before the repository's (to hide a package)."""
    command = [sys.executable]
    if launch:
        command += ["-m", "paddle.distributed.launch", "--nproc_per_node", "2",
                    "--log_dir", os.path.join(cwd, "launch_logs")]
    script = tool if os.path.isfile(tool) else os.path.join(REPO, "tools", f"{tool}.py")
    command += [script] + args
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*pythonpath, REPO]))
    env.pop("OMP_NUM_THREADS", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec_fn)


def train(data, cwd, *extra, launch=False, script="train"):
    os.makedirs(cwd, exist_ok=True)
    args = ["-c", DEMO, "-o", *TINY, *data_overrides(data), f"save_dir={cwd}/output", "epoch=2",
            "snapshot_epoch=1", *extra]
    result = run_tool(script, args, str(cwd), launch)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
