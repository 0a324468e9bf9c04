"""An exception in the reader reaches the main process and stops the run with its message.

Each case runs in a subprocess under a timeout: before the fix, an op failing with
``worker_num: 0`` killed Paddle's fetching thread and left the main process waiting on
the DataLoader's queue forever.
"""
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO

SCRIPT = textwrap.dedent('''
    import sys
    sys.path.insert(0, {repo!r})
    import json, os
    import cv2, numpy as np
    from ppfcos.core.config import Config
    from ppfcos.core.registry import register
    from ppfcos.data.reader import create_reader

    @register
    class FailOnImage3:
        """Raises on the sample of image id 3 (a sample op) or its batch (a batch op)."""
        def __call__(self, data):
            ids = [int(s["im_id"][0]) for s in data] if isinstance(data, list) else \\
                [int(data["im_id"][0])]
            if 3 in ids:
                raise ValueError("op failed on purpose")
            return data

    root = sys.argv[1]
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    images, anns = [], []
    for i in range(1, 41):
        cv2.imwrite(os.path.join(root, "images", f"{{i}}.jpg"), np.zeros((32, 32, 3), np.uint8))
        images.append({{"id": i, "file_name": f"{{i}}.jpg", "height": 32, "width": 32}})
        anns.append({{"id": i, "image_id": i, "category_id": 1, "bbox": [2, 2, 9, 9]}})
    with open(os.path.join(root, "ann.json"), "w") as f:
        json.dump({{"images": images, "annotations": anns,
                   "categories": [{{"id": 1, "name": "a"}}]}}, f)
    where = sys.argv[2]
    ops = [{{"Decode": {{}}}}, {{"Permute": {{}}}}]
    sample_ops = ops + [{{"FailOnImage3": {{}}}}] if where == "sample" else ops
    batch_ops = [{{"FailOnImage3": {{}}}}] if where == "batch" else []
    cfg = Config({{"worker_num": int(sys.argv[3]),
                  "TrainDataset": {{"name": "COCODataSet", "dataset_dir": root,
                                   "image_dir": "images", "anno_path": "ann.json",
                                   "data_fields": ["image", "gt_bbox", "gt_class"]}},
                  "TrainReader": {{"sample_transforms": sample_ops,
                                  "batch_transforms": batch_ops, "batch_size": 2}}}},
                 {{}}, os.path.join(root, "cfg.yml"))
    from ppfcos.data.loader import ReaderError
    try:
        for batch in create_reader(cfg, "train"):
            pass
    except ReaderError as e:
        print("ReaderError:", e)
        sys.exit(3)
    print("no error")
''')


@pytest.mark.parametrize("where, workers", [("sample", 0), ("batch", 0), ("sample", 1)])
def test_a_failing_op_stops_the_loop_with_its_message(tmp_path, where, workers):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(repo=REPO))
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "data"), where,
                             str(workers)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    line, = [l for l in result.stdout.splitlines() if l.startswith("ReaderError:")]
    assert "ValueError: op failed on purpose" in line
    assert "3.jpg" in line and ("batch of" in line) == (where == "batch")
