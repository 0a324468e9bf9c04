"""Packaging: the Paddle requirement never replaces an installed build; CI runs the README's
test command."""
import os
import runpy

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
