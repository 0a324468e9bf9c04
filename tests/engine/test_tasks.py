"""Tool wiring checks that turn config mistakes into one-line errors."""
import types

import pytest

from ppfcos.core.config import ConfigError
from ppfcos.engine.tasks import check_classes


def test_model_with_more_classes_than_the_eval_dataset_is_a_config_error():
    dataset = types.SimpleNamespace(class_names=["circle", "square"])
    check_classes({"num_classes": 2}, dataset)
    check_classes({"num_classes": 1}, dataset)         # predicts a subset: scorable
    with pytest.raises(ConfigError, match="num_classes is 80 but the EvalDataset has 2 "
                                          r"categories \(circle, square\)"):
        check_classes({"num_classes": 80}, dataset)
