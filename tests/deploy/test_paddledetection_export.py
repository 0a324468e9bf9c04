"""deploy/python runs an export made by PaddleDetection itself (Paddle 2.6.2's exporter:
ProgramDesc model.pdmodel, its infer_cfg.yml, normalization fused into the program):
the same preprocessed inputs and the same detections as PaddleDetection's run of it, on
every Paddle the matrix tests (tests/fixtures/README.md says how the fixture was made)."""
import os

import numpy as np
import pytest

import test_deploy_infer  # noqa: F401
from conftest import FIXTURES, assert_same_detections

from ppfcos_runtime.exported_model import load_exported_model  # noqa: E402
from ppfcos_runtime.factory import load_detector  # noqa: E402
from ppfcos_runtime.media import read_image  # noqa: E402
from ppfcos_runtime.predictor import RunOptions  # noqa: E402
from ppfcos_runtime.preprocess import Preprocessor  # noqa: E402

EXPORT = os.path.join(FIXTURES, "ppdet_export")
STEMS = ("shapes0", "shapes1")
EXPECTED = np.load(os.path.join(EXPORT, "expected.npz"))


@pytest.fixture(scope="module")
def model():
    return load_exported_model(EXPORT, "paddle")


def test_the_paddledetection_program_and_its_config_are_read(model):
    assert model.program.endswith("model.pdmodel")
    assert model.label_list == ["circle", "rectangle", "triangle", "ellipse"]


@pytest.mark.parametrize("stem", STEMS)
def test_preprocessing_equals_paddledetections(model, stem):
    sample = Preprocessor(model.preprocess)(read_image(os.path.join(EXPORT, stem + ".jpg")))
    np.testing.assert_allclose(sample["image"], EXPECTED[f"image_{stem}"][0], atol=1e-4)
    np.testing.assert_allclose(sample["scale_factor"], EXPECTED[f"scale_factor_{stem}"][0],
                               rtol=1e-6)


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "no-onednn"])
def test_detections_equal_paddledetections(model, onednn):
    detector = load_detector(model, "paddle", RunOptions(cpu_threads=2, enable_mkldnn=onednn))
    images = [read_image(os.path.join(EXPORT, stem + ".jpg")) for stem in STEMS]
    found = detector.detect(images)
    for stem, rows in zip(STEMS, found):
        expected = EXPECTED[f"bbox_{stem}"]
        assert len(expected) == int(EXPECTED[f"bbox_num_{stem}"][0]) > 50
        assert_same_detections(rows, expected, score_atol=1e-5, box_atol=1e-2, what=stem)
