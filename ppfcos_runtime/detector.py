"""Batched detection: preprocess images, run same-shape groups, split the rows per image."""
import numpy as np

from .errors import DeployError

INPUT_KEYS = ("image", "im_shape", "scale_factor")


def same_shape_groups(samples):
    """Indices of ``samples`` grouped by their image shape, in order of first appearance."""
    groups = {}
    for index, sample in enumerate(samples):
        groups.setdefault(sample["image"].shape, []).append(index)
    return list(groups.values())


def stack_inputs(samples):
    """Same-shape samples -> {image [N, 3, H, W], im_shape [N, 2], scale_factor [N, 2]}."""
    return {key: np.stack([s[key] for s in samples]) for key in INPUT_KEYS}


def split_rows(bbox, bbox_num, images):
    """bbox [K, 6] and bbox_num [N] -> N arrays [k_i, 6] of real detections (class >= 0).

    Rows beyond sum(bbox_num) (a placeholder row some NMS kernels emit when no
    image has detections) are dropped. ``images`` is N, checked against bbox_num.
    """
    bbox = np.asarray(bbox, dtype=np.float32).reshape(-1, 6)
    counts = np.asarray(bbox_num, dtype=np.int64).reshape(-1)
    ends = np.cumsum(counts)
    if len(counts) != images or (images and ends[-1] > len(bbox)):
        raise DeployError(f"the model's outputs do not match a batch of {images} image(s): "
                          f"bbox_num {counts.tolist()}, {len(bbox)} bbox rows")
    return [bbox[e - n:e][bbox[e - n:e, 0] >= 0] for n, e in zip(counts, ends)]


class ExportDetector:
    """Preprocessing and a backend predictor, run on lists of images (build one with
    factory.load_detector).

    ``timings`` (benchmark.Timings) collects the time per stage. With
    ``warmup_runs`` > 0 each new input shape is first run that many times
    untimed (oneDNN and TensorRT prepare kernels per shape on the first runs).
    ``exported``: the ExportedModel the predictor runs (its labels and threshold), if known.
    """

    def __init__(self, preprocessor, predictor, timings, warmup_runs=0, exported=None):
        self.preprocessor = preprocessor
        self.exported = exported
        self.predictor = predictor
        self.timings = timings
        self.warmup_runs = warmup_runs
        self._warm_shapes = set()

    def detect(self, images):
        """RGB uint8 images [H, W, 3] -> one float32 array [k, 6] of rows per image.

        Rows are (class_index, score, x1, y1, x2, y2) in the image's pixels, all
        scores. Only images whose preprocessed tensors have the same shape share
        a predictor run, so the result does not depend on how images are batched.
        """
        with self.timings.measure("preprocess"):
            samples = [self.preprocessor(image) for image in images]
        results = [None] * len(samples)
        for indices in same_shape_groups(samples):
            inputs = stack_inputs([samples[i] for i in indices])
            self._warm_up(inputs)
            with self.timings.measure("inference"):
                bbox, bbox_num = self.predictor.run(inputs)
            with self.timings.measure("postprocess"):
                for index, rows in zip(indices, split_rows(bbox, bbox_num, len(indices))):
                    results[index] = rows
        self.timings.images += len(samples)
        return results

    def _warm_up(self, inputs):
        shape = inputs["image"].shape
        if self.warmup_runs > 0 and shape not in self._warm_shapes:
            for _ in range(self.warmup_runs):
                self.predictor.run(inputs)
            self._warm_shapes.add(shape)

    @property
    def label_list(self):
        """The class names by class index (the export's infer_cfg.yml)."""
        return self.exported.label_list

    @property
    def category_ids(self):
        """The dataset's category id by class index (the export's infer_cfg.yml)."""
        return self.exported.category_ids

    @property
    def default_threshold(self):
        """The export's draw_threshold: the score a detection is drawn and returned from."""
        return self.exported.draw_threshold
