"""Packaging: the Paddle requirement never replaces an installed build; CI runs the README's
test command."""
import os
import runpy
import subprocess
import sys

from conftest import REPO

SETUP = runpy.run_path(os.path.join(REPO, "setup.py"), run_name="setup_under_test")


def test_cpu_paddle_required_only_when_no_paddle_is_installed():
    assert SETUP["paddle_requirements"]([]) == ["paddlepaddle>=3.0"]
    assert SETUP["paddle_requirements"](["paddlepaddle-gpu"]) == []
    assert SETUP["paddle_requirements"](["paddle"]) == []


def test_probe_sees_the_installed_paddle_even_under_build_isolation(monkeypatch):
    # pip's isolated builds set these; the probe must look past them
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    monkeypatch.setenv("PYTHONPATH", "/nonexistent/isolated-build-env")
    found, version = SETUP["installed_paddle"]()
    assert found and all(name.startswith("paddle") for name in found)
    import paddle
    assert version == paddle.__version__


def test_paddle2onnx_matches_the_installed_paddle():
    # paddle2onnx 2.x refuses to import beside Paddle 2.x; 1.x reads its model.pdmodel
    assert SETUP["onnx_requirements"]("2.6.2")[0] == "paddle2onnx>=1.2,<2"
    for version in ("3.0.0", "3.3.1", "0.0.0", None):
        assert SETUP["onnx_requirements"](version)[0] == "paddle2onnx>=2.0"


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(REPO, ".ci", "run")) as f:
        ci_command = [line for line in f.read().splitlines() if "pytest" in line]
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    assert len(ci_command) == 1 and ci_command[0] in readme


def test_every_tool_has_a_console_command_with_its_main():
    tools = {name[:-3] for name in os.listdir(os.path.join(REPO, "tools"))
             if name.endswith(".py") and name != "__init__.py"}
    targets = dict(script.split("=") for script in SETUP["CONSOLE_SCRIPTS"])
    modules = {target.split(":")[0].split(".")[1] for target in targets.values()
               if target.startswith("ppfcos_tools.")}
    assert modules == tools
    assert targets["ppfcos-deploy"] == "ppfcos_runtime.infer:main"
    assert all(name.startswith("ppfcos-") for name in targets)


def test_benchmarks_are_scripts_apart_from_the_installed_tools():
    """benchmarks/ holds the developer benchmarks; tools/ (installed as ppfcos_tools) none."""
    benchmarks = [name for name in os.listdir(os.path.join(REPO, "benchmarks"))
                  if name.endswith(".py")]
    assert "benchmark.py" in benchmarks and "__init__.py" not in benchmarks
    assert not [name for name in os.listdir(os.path.join(REPO, "tools"))
                if name.startswith("benchmark")]
    assert not [script for script in SETUP["CONSOLE_SCRIPTS"] if "benchmark" in script]


def test_a_console_command_runs_the_tool_with_its_flags(tmp_path):
    """ppfcos-print-config (installed by pip install -e .) prints what tools/print_config.py
    prints, and ppfcos-train refuses a bad flag as tools/train.py does."""
    bin_dir = os.path.dirname(sys.executable)
    config = os.path.join(REPO, "configs", "demo", "fcos_r18_lite_synthetic.yml")

    def run(*command):
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    script = run(sys.executable, os.path.join(REPO, "tools", "print_config.py"), "-c", config,
                 "-o", "epoch=3")
    command = run(os.path.join(bin_dir, "ppfcos-print-config"), "-c", config, "-o", "epoch=3")
    assert command.returncode == script.returncode == 0, command.stderr
    assert "epoch: 3" in command.stdout and command.stdout == script.stdout
    refused = run(os.path.join(bin_dir, "ppfcos-train"), "-c", config, "--no_such_flag")
    assert refused.returncode == 2 and "unrecognized arguments: --no_such_flag" in refused.stderr
