"""Run an exported model with Paddle Inference on CPU (benchmarks, fast evaluation)."""
import os
import tempfile

import numpy as np
from paddle import inference

from .exporter import program_file, save_program


class Predictor:
    """A Paddle Inference predictor of an exported detector.

    ``run(inputs)``: ``inputs`` maps ``image`` [N, 3, H, W], ``im_shape`` [N, 2] and
    ``scale_factor`` [N, 2] (float32 numpy) -> (bbox [K, 6], bbox_num [N]) numpy.
    Only the inputs the program lists are fed.
    """

    def __init__(self, predictor):
        self.predictor = predictor
        self.input_names = predictor.get_input_names()
        self.outputs = [predictor.get_output_handle(name)
                        for name in predictor.get_output_names()]

    def run(self, inputs):
        for name in self.input_names:
            self.predictor.get_input_handle(name).copy_from_cpu(
                np.ascontiguousarray(inputs[name], dtype=np.float32))
        self.predictor.run()
        bbox, bbox_num = (handle.copy_to_cpu() for handle in self.outputs)
        return bbox, bbox_num


def create_predictor(model_dir, threads=None, onednn=True):
    """A CPU Predictor of ``model_dir`` with ``threads`` math threads (default: all cores)
    and oneDNN on or off."""
    config = inference.Config(program_file(model_dir), os.path.join(model_dir, "model.pdiparams"))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
    if onednn:
        config.enable_mkldnn()
    else:
        config.disable_mkldnn()
    config.disable_glog_info()
    return Predictor(inference.create_predictor(config))


class PredictorDetector:
    """The detector's eval interface run by Paddle Inference with oneDNN (CPU).

    Built from a dygraph ``model``: its current weights are saved as a temporary
    program (normalization left to the reader; the model itself is unchanged and
    keeps training). Called with a reader batch (``image``, ``im_shape``,
    ``scale_factor`` tensors) -> {"bbox": [K, 6], "bbox_num": [N]} numpy arrays,
    like ``model(batch)`` in eval mode.
    """

    def __init__(self, model, threads=None):
        model.eval()
        with tempfile.TemporaryDirectory() as tmp:
            save_program(model, tmp)
            self.predictor = create_predictor(tmp, threads=threads, onednn=True)

    def eval(self):
        return self

    def __call__(self, batch):
        bbox, bbox_num = self.predictor.run({key: np.asarray(batch[key]) for key in
                                             ("image", "im_shape", "scale_factor")})
        return {"bbox": bbox, "bbox_num": bbox_num}
