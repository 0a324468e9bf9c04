"""TrainingStorage: latest value per name, looked up whole or for one epoch."""
from ppfcos.engine.storage import EVAL_RESULTS, TrainingStorage


def test_storage_keeps_the_latest_value_of_each_name_with_its_epoch():
    storage = TrainingStorage()
    assert storage.latest(EVAL_RESULTS) is None and storage.of_epoch(EVAL_RESULTS, 0) is None
    storage.put(EVAL_RESULTS, {"mAP": 0.2}, 1)
    storage.put("other", 7, 1)
    storage.put(EVAL_RESULTS, {"mAP": 0.3}, 3)
    assert storage.latest(EVAL_RESULTS) == (3, {"mAP": 0.3})
    assert storage.of_epoch(EVAL_RESULTS, 3) == {"mAP": 0.3}
    assert storage.of_epoch(EVAL_RESULTS, 1) is None           # replaced by epoch 3's
    assert storage.latest("other") == (1, 7) and storage.latest("missing") is None
