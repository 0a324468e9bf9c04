"""sahi's ``DetectionModel`` running a ppfcos Detector, so sahi's sliced prediction (and its
other tools) work with ppfcos models. Needs sahi: ``pip install -e .[slice]``.

    from sahi.predict import get_sliced_prediction
    from ppfcos.api.sahi_model import PPFCOSDetectionModel

    model = PPFCOSDetectionModel(model=ppfcos.Detector.from_export("output_inference/fcos"),
                                 confidence_threshold=0.3)
    # or: PPFCOSDetectionModel(model_path="output_inference/fcos")  (an export folder)
    #     PPFCOSDetectionModel(config_path="configs/x.yml", model_path="x.pdparams")
    result = get_sliced_prediction("big.jpg", model, slice_height=640, slice_width=640)

sahi hands the model RGB slices; each slice goes through the Detector's preprocessing as a
whole image would, the slices of a batch (``batch_size`` of get_sliced_prediction) share
a network run, and only detections with score >= ``confidence_threshold`` are kept (the
Detector's own ``threshold`` does not apply here). Category ids are the class indices and
category names the model's class names.
"""
import numpy as np

try:
    from sahi.models.base import DetectionModel
    from sahi.prediction import ObjectPrediction
    from sahi.utils.compatibility import fix_full_shape_list, fix_shift_amount_list
except ImportError:
    raise ImportError("ppfcos.api.sahi_model needs the sahi package: pip install -e .[slice] "
                      "(or pip install sahi)") from None

from .detector import Detector


class PPFCOSDetectionModel(DetectionModel):
    """A sahi DetectionModel of a ppfcos Detector (``model=``), or of the Detector built
    from ``model_path`` (an export folder, or weights with ``config_path``)."""

    def load_model(self):
        if self.model_path is None:
            raise ValueError("PPFCOSDetectionModel needs model= (a ppfcos.Detector), "
                             "model_path= (an export folder), or config_path= with "
                             "model_path= (its weights)")
        if self.config_path is not None:
            self.set_model(Detector(self.config_path, self.model_path))
        else:
            self.set_model(Detector.from_export(self.model_path))

    def set_model(self, model, **kwargs):
        if not isinstance(model, Detector):
            raise TypeError(f"PPFCOSDetectionModel runs a ppfcos.Detector, got "
                            f"{type(model).__name__}")
        self.model = model
        if self.category_mapping is None:
            self.category_mapping = {str(i): name for i, name in enumerate(model.class_names)}

    @property
    def num_categories(self):
        return len(self.category_mapping)

    @property
    def has_mask(self):
        return False

    @property
    def category_names(self):
        return list(self.category_mapping.values())

    def perform_inference(self, image):
        """One RGB image [H, W, 3] -> its rows, kept as the original predictions."""
        self.perform_batch_inference([image])

    def perform_batch_inference(self, images):
        """RGB images [H, W, 3] -> their rows [k, 6] in one Detector call."""
        self._original_predictions = self.model.backend.detect(list(images))
        self._original_shapes = [image.shape for image in images]

    def _create_object_prediction_list_from_original_predictions(self, shift_amount_list=None,
                                                                 full_shape_list=None):
        """The rows of each image with score >= confidence_threshold -> ObjectPredictions,
        boxes clipped to the image (sahi's boxes are non-negative) and shifted by the
        image's ``shift_amount`` into the full image."""
        shifts = fix_shift_amount_list(shift_amount_list)
        full_shapes = fix_full_shape_list(full_shape_list)
        per_image = []
        for index, rows in enumerate(self._original_predictions):
            height, width = self._original_shapes[index][:2]
            kept = rows[rows[:, 1] >= self.confidence_threshold]
            boxes = np.clip(kept[:, 2:], 0, [width, height, width, height])
            valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            per_image.append([
                ObjectPrediction(bbox=box.tolist(), category_id=int(row[0]),
                                 category_name=self.category_mapping.get(str(int(row[0])),
                                                                         str(int(row[0]))),
                                 score=float(row[1]), shift_amount=list(shifts[index]),
                                 full_shape=None if full_shapes is None else
                                 list(full_shapes[index]))
                for row, box in zip(kept[valid], boxes[valid])])
        self._object_prediction_list_per_image = per_image
