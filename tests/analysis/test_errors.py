"""The TIDE breakdown (tidecv): each error type triggered by one crafted detection.

Every case has a class-1 box found at score 0.5 (class 1's AP is 100) and a class-0 box A;
the crafted detection makes one error about A. dAP is in AP points (mean over 2 classes).
"""
import pytest

from crafted import A, B, record
from ppfcos.analysis.errors import MAIN_ERRORS, error_breakdown

pytest.importorskip("tidecv")

A_LOW = [0, 0, 10, 3]                           # IoU 0.3 with A: between 0.1 and 0.5
C = [60, 0, 70, 10]
FOUND_B = (B, 1, 0.5)

CASES = {
    # a class-1 detection on A: class 1 has AP 50 and class 0 AP 0; fixed, both are 100
    "Cls": ([(A, 0), (B, 1)], [(A, 1, 0.9), FOUND_B], 75.0, {"Cls": 1}),
    # a class-0 detection at IoU 0.3 with A: class 0 goes from 0 to 100
    "Loc": ([(A, 0), (B, 1)], [(A_LOW, 0, 0.9), FOUND_B], 50.0, {"Loc": 1}),
    # wrong class and IoU 0.3: removing it lifts class 1 from 50 to 100; A stays missed
    "Both": ([(A, 0), (B, 1)], [(A_LOW, 1, 0.9), FOUND_B], 25.0, {"Both": 1, "Miss": 1}),
    # A found twice before C is found: class 0's AP (51 + 50 * 2/3) / 101 becomes 100
    "Dupe": ([(A, 0), (C, 0), (B, 1)], [(A, 0, 0.9), (A, 0, 0.8), (C, 0, 0.7), FOUND_B],
             (100 - 100 * (51 + 50 * 2 / 3) / 101) / 2, {"Dupe": 1}),
    # a class-0 detection on nothing above A's: class 0 from 50 to 100
    "Bkg": ([(A, 0), (B, 1)], [([80, 80, 90, 90], 0, 0.9), (A, 0, 0.7), FOUND_B], 25.0,
            {"Bkg": 1}),
    # A never detected: class 0 from 0 to 100 once the miss is fixed
    "Miss": ([(A, 0), (B, 1)], [FOUND_B], 50.0, {"Miss": 1}),
}


@pytest.mark.parametrize("error", list(CASES))
def test_each_error_type_is_found_and_costs_the_hand_computed_ap(error):
    gts, dets, dap, counts = CASES[error]
    breakdown = error_breakdown([record(gts, dets)])
    assert breakdown["counts"] == {k: counts.get(k, 0) for k in MAIN_ERRORS}
    assert breakdown["main"][error] == pytest.approx(dap, abs=1e-6)
    others = {k: v for k, v in breakdown["main"].items() if k not in counts}
    assert all(v == 0 for v in others.values()), others


def test_perfect_detections_have_no_error_and_ap_100():
    breakdown = error_breakdown([record([(A, 0), (B, 1)], [(A, 0, 0.9), FOUND_B])])
    assert breakdown["ap"] == pytest.approx(100.0)
    assert sum(breakdown["counts"].values()) == 0
    assert breakdown["special"] == {"FalsePos": 0.0, "FalseNeg": 0.0}


def test_matplotlib_settings_are_left_as_they_were():
    import matplotlib
    before = dict(matplotlib.rcParams)
    error_breakdown([record([(A, 0)], [(A, 0, 0.9)])])
    assert dict(matplotlib.rcParams) == before            # tidecv's seaborn style undone
