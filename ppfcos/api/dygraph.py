"""What runs a Detector's network from a config: DygraphModel. An export runs in
ppfcos_runtime's ExportDetector (factory.load_detector).

Both have one interface, ``detect(images) -> rows``: RGB uint8 images [H, W, 3] in, one
float32 array [k, 6] of rows (class_index, score, x1, y1, x2, y2 in the image's pixels,
every score the model's NMS keeps) per image out; plus ``label_list`` (class names by
class index), ``category_ids`` (the dataset's category id by class index) and
``default_threshold``. Images whose preprocessed tensors have the same shape share a
run, so the detections do not depend on how images are batched.
"""
import numpy as np
import paddle

from ppfcos_runtime.detector import INPUT_KEYS, same_shape_groups, split_rows

from ..core.config import ConfigError
from ..data.collate import BatchCollator
from ..data.datasets import READER_ERROR_KEY
from ..data.reader import Compose, build_ops
from ..data.transforms.operators import Decode
from ..export.infer_cfg import labels

# tools/infer.py's --draw_threshold default, and the draw_threshold an export writes.
DEFAULT_THRESHOLD = 0.5


class DygraphModel:
    """A dygraph ``model`` (eval mode) fed through the config's TestReader: its sample
    transforms (Decode keeps the array; a caffe-style ``to_rgb: false`` Decode gets the
    image in BGR) and batch transforms, as ``tools/infer.py`` feeds it. Class names and
    category ids come from the TestDataset's anno_path (COCO's for an 80-class COCO
    model without one), as an export writes them."""

    def __init__(self, cfg, model):
        self.model = model
        self.model.eval()
        self.transforms = Compose(build_ops(cfg, "TestReader", "sample_transforms"))
        self.collate = BatchCollator(build_ops(cfg, "TestReader", "batch_transforms"))
        decode = next((op for op in self.transforms.ops if isinstance(op, Decode)), Decode())
        self.reads_bgr = not decode.to_rgb
        self.label_list, self.category_ids = labels(cfg)
        self.default_threshold = DEFAULT_THRESHOLD

    def sample(self, image, index):
        """The TestReader's sample of one RGB image."""
        image = np.ascontiguousarray(image[:, :, ::-1]) if self.reads_bgr else image
        return self.transforms({"image": image, "im_id": np.array([index])})

    def detect(self, images):
        samples = [self.sample(image, i) for i, image in enumerate(images)]
        results = [None] * len(samples)
        for indices in same_shape_groups(samples):
            batch = self.collate([samples[i] for i in indices])
            if READER_ERROR_KEY in batch:
                raise ConfigError(f"TestReader.batch_transforms: {batch[READER_ERROR_KEY][0]}")
            with paddle.no_grad():
                outputs = self.model({key: paddle.to_tensor(batch[key]) for key in INPUT_KEYS})
            rows = split_rows(outputs["bbox"].numpy(), outputs["bbox_num"].numpy(),
                              len(indices))
            for index, image_rows in zip(indices, rows):
                results[index] = image_rows
        return results
