"""The documentation's commands run as written.

A fenced block right after a line ``<!-- tested -->`` (README.md and docs/*.md) is run:
``bash`` blocks with ``bash -euo pipefail``, ``python`` blocks with this interpreter. A
block after ``<!-- tested: FILE -->`` is written to FILE instead (a config the next
commands read). The blocks of one page run in order, in one fresh folder where
``configs/``, ``tools/`` and ``deploy/`` link to the repository's and ``python`` is this
interpreter; each must exit with status 0. docs/contributing.md states the convention.
"""
import glob
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

MARKER = re.compile(r"^<!-- tested(?:: (?P<file>\S+))? -->$")
RUNNERS = {"bash": ["bash", "-euo", "pipefail", "-c"], "python": [sys.executable, "-c"]}
LINKED = ("configs", "tools", "deploy")
BLOCK_TIMEOUT = 120  # seconds; the slowest block (a short training run) takes a few


def marked_blocks(text, page):
    """[(runner or None, file or None, code)] of the blocks marked in ``text``: a runner
    name for a block to run, a file name for a block to write. ValueError naming ``page``
    and the line for a marker not followed by a fence it can use, or a block never closed."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines, 1):
        marker = MARKER.match(line.strip())
        if marker is None:
            continue
        fence = lines[number].strip() if number < len(lines) else ""
        language = fence[3:].strip()
        runner = None if marker["file"] else language
        if not fence.startswith("```") or (runner is not None and runner not in RUNNERS):
            raise ValueError(f"{page}:{number}: {line.strip()} must be followed by a "
                             f"{'fenced' if marker['file'] else '```bash or ```python'} block")
        end = next((i for i in range(number + 1, len(lines)) if lines[i].strip() == "```"),
                   None)
        if end is None:
            raise ValueError(f"{page}:{number + 1}: the tested block is never closed")
        blocks.append((runner, marker["file"], "\n".join(lines[number + 1:end]) + "\n"))
    return blocks


def page_blocks():
    """{page relative to the repository: its marked blocks}, pages with none left out."""
    pages = ["README.md"] + sorted(os.path.relpath(p, REPO) for p in
                                   glob.glob(os.path.join(REPO, "docs", "**", "*.md"),
                                             recursive=True))
    found = {}
    for page in pages:
        with open(os.path.join(REPO, page), encoding="utf-8") as f:
            blocks = marked_blocks(f.read(), page)
        if blocks:
            found[page] = blocks
    return found


PAGE_BLOCKS = page_blocks()


def test_marked_blocks_are_found_and_a_bad_marker_is_refused():
    text = ("```bash\nnot run\n```\n<!-- tested -->\n```bash\necho one \\\n  two\n```\n"
            "<!-- tested: a.yml -->\n```yaml\nepoch: 1\n```\n"
            "<!-- tested -->\n```python\nprint(1)\n```\n")
    assert marked_blocks(text, "page.md") == [("bash", None, "echo one \\\n  two\n"),
                                              (None, "a.yml", "epoch: 1\n"),
                                              ("python", None, "print(1)\n")]
    with pytest.raises(ValueError, match=r"page.md:1: <!-- tested --> must be followed"):
        marked_blocks("<!-- tested -->\n```yaml\na: 1\n```\n", "page.md")
    with pytest.raises(ValueError, match=r"page.md:2: the tested block is never closed"):
        marked_blocks("<!-- tested -->\n```bash\necho\n", "page.md")


def test_the_tutorial_runs_every_step_from_raw_files_to_deployment():
    code = "".join(code for runner, _, code in PAGE_BLOCKS["docs/tutorial_custom_dataset.md"]
                   if runner)
    for step in ("tools/x2coco.py", "tools/check_dataset.py", "tools/train.py",
                 "tools/eval.py", "tools/analyze_results.py", "tools/export_model.py",
                 "deploy/python/infer.py"):
        assert step in code, f"the tutorial runs no {step}"


@pytest.mark.parametrize("page", sorted(PAGE_BLOCKS))
def test_the_page_commands_run(page, tmp_path):
    for name in LINKED:
        os.symlink(os.path.join(REPO, name), tmp_path / name)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    for number, (runner, file_name, code) in enumerate(PAGE_BLOCKS[page], 1):
        if file_name:
            (tmp_path / file_name).write_text(code)
            continue
        run = subprocess.run(RUNNERS[runner] + [code], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
        assert run.returncode == 0, (f"{page}, marked block {number} exited with "
                                     f"{run.returncode}:\n{code}\n{run.stdout[-2000:]}\n"
                                     f"{run.stderr[-4000:]}")
