"""``ppfcos.Detector``: detect objects in images, folders and videos in a few lines."""
import itertools
import logging
import os

import numpy as np

from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.factory import load_detector
from ppfcos_runtime.predictor import RunOptions
from ppfcos_runtime.tracking import LOW_SCORE_THRESHOLD, Tracker, TrackerOptions

from ..checkpoint.loading import load_weights
from ..core.config import Config, ConfigError, load_config
from ..data.reader import reader_options
from ..engine.auto_annotate import DatasetWriter, check_dataset_dir
from ..modeling import build_model, build_tta
from ..utils.env import cpu_threads, setup_device
from .dygraph import DygraphModel
from .results import DetectionResult
from .sources import open_source, open_video

logger = logging.getLogger("ppfcos")
DEVICES = ("cpu", "gpu")


class Detector:
    """A ppfcos detector: built from a config and its weights (dygraph), or from a folder
    written by ``tools/export_model.py`` (Paddle Inference, ONNX Runtime or OpenVINO).

        import ppfcos
        detector = ppfcos.Detector("configs/fcos_r50_fpn_1x_coco.yml",
                                   "output/fcos_r50_fpn_1x_coco/model_final.pdparams")
        for result in detector.predict("photos/"):        # one DetectionResult per image
            print(result.path, result.boxes, result.scores, result.class_names)
            result.save(os.path.join("out", os.path.basename(result.path)))

        detector = ppfcos.Detector.from_export("output_inference/fcos_r50_fpn_1x_coco",
                                               backend="openvino", precision="bf16")
        result, = detector.predict(cv2.imread("photo.jpg"))   # a BGR numpy image

    ``Detector(config, weights)``: ``config`` is a config file (with ``overrides``, a list
    of ``-o``-style "key=value" strings) or a Config from ``ppfcos.load_config``;
    ``weights`` a ``.pdparams`` path (or its prefix) or URL (cached), default the
    config's ``weights``. The images go through the config's TestReader, as
    ``tools/infer.py`` sends them, and give its detections.

    ``Detector.from_export(model_dir, backend=, precision=)``: the exported model run by
    ``ppfcos_runtime`` (backend 'paddle', 'onnxruntime' or 'openvino'; precision 'fp32',
    'bf16' or 'int8' where the backend runs it), the detections of
    ``deploy/python/infer.py``; ``threads``: CPU threads (default: as setup_device).

    Both: ``device`` 'cpu', 'gpu' or None (the GPU when Paddle has one, else the CPU;
    exported models other than Paddle Inference's run on the CPU unless asked);
    ``threshold``: keep detections with at least this score (default 0.5, or the
    export's draw_threshold); ``batch_size``: images per network run (default: the
    TestReader's, or 1; only images of one preprocessed shape share a run, so it changes
    speed, not detections); ``tta`` (dygraph only): test-time augmentation over the
    config's ``TTA`` views, merged before NMS. Building one calls
    `ppfcos.setup_device` (the tools' threads and MKL settings, once per process).

    ``track(video, **tracker_params)``: the frames of a video file with track ids
    (ByteTrack; see the method). ``tracking_threshold``: the score the tracker's
    detections need (the ``threshold`` given, else 0.1).

    ``predict(source)``: see `ppfcos.api.sources` for what a source may be. Returns
    a list of `DetectionResult`, one per image in order; for a video file (or with
    ``stream=True``), a generator of one result per image or frame, read and detected a
    batch at a time. Bad input raises ``ppfcos_runtime.errors.DeployError`` (unknown
    source, missing or unreadable file, empty folder, a backend or precision that cannot
    run, a bad option, an export whose files do not match its infer_cfg.yml); a bad config ``ppfcos.ConfigError``; weights that do not fit
    ``WeightsError``.
    """

    def __init__(self, config, weights=None, *, overrides=None, device=None, threshold=None,
                 batch_size=None, tta=False):
        check_threshold(threshold)
        start_device(device, use_gpu=device != "cpu")
        cfg = config_of(config, overrides)
        weights = weights if weights is not None else cfg.get("weights")
        if not weights:
            raise ConfigError("give the weights: Detector(config, weights) with a .pdparams "
                              "path or URL (or set weights in the config)")
        batch_size = check_batch_size(reader_options(cfg, "TestReader")["batch_size"]
                                      if batch_size is None else batch_size)
        model = build_model(cfg)
        load_weights(model, os.fspath(weights), strict=True)
        logger.info("loaded weights %s", weights)
        self._start(DygraphModel(cfg, build_tta(cfg, model) if tta else model), threshold,
                    batch_size)

    @classmethod
    def from_export(cls, model_dir, *, backend="paddle", precision="fp32", device=None,
                    threads=None, threshold=None, batch_size=1):
        """A Detector running the exported model in ``model_dir`` (see the class)."""
        check_threshold(threshold)
        batch_size = check_batch_size(batch_size)
        threads = cpu_threads() if threads is None else threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise DeployError(f"threads must be an integer >= 1, got {threads!r}")
        device = start_device(device, use_gpu=device == "gpu" or (device is None
                                                                  and backend == "paddle"))
        options = RunOptions(device=device.upper(), cpu_threads=threads, batch_size=batch_size,
                             precision=precision)
        detector = cls.__new__(cls)
        detector._start(load_detector(os.fspath(model_dir), backend, options), threshold,
                        batch_size)
        return detector

    def _start(self, backend, threshold, batch_size):
        self.backend = backend
        self.threshold = backend.default_threshold if threshold is None else threshold
        self.tracking_threshold = LOW_SCORE_THRESHOLD if threshold is None else threshold
        self.batch_size = batch_size

    @property
    def class_names(self):
        """The model's class names by class index."""
        return self.backend.label_list

    def predict(self, source, stream=False):
        """Detect in ``source`` -> list of DetectionResult; a generator for a video, or
        with ``stream`` (results made as they are iterated, so a large folder does not
        hold every image in memory)."""
        video, items = open_source(source)
        results = self._results(items)
        return results if video or stream else list(results)

    def track(self, video, **tracker_params):
        """Detect in the frames of the video file ``video`` and track the objects from
        frame to frame (ByteTrack, by the trackers package: ``pip install trackers`` or
        ``pip install -e .[track]``) -> a generator of one DetectionResult per frame,
        holding the detections of confirmed tracks with their ``track_ids`` (from 1).

        The tracker gets the detections scoring at least ``tracking_threshold``;
        ``tracker_params`` are ByteTrack's parameters (`TrackerOptions`: track_thresh,
        track_high_thresh, track_buffer, track_match_iou, track_min_frames), the frame
        rate is the video's. The video, the parameters and the package are checked when
        this is called (DeployError), before any frame is read."""
        options = TrackerOptions.from_params(tracker_params)
        frame_rate, items = open_video(video)
        return self._tracked(items, Tracker(options, frame_rate))

    def save_dataset(self, image_dir, out_dir, *, threshold=None, class_thresholds=None):
        """Detect in the images of ``image_dir`` and write them with their detections as a
        dataset into ``out_dir`` (new or empty): COCO ``annotations.json`` (the model's
        category ids and names, the images' sizes), ``yolo/`` and ``labelme/``
        (``ppfcos.engine.auto_annotate``). Detections the Detector keeps (its threshold)
        are written when they score ``threshold`` (default: the Detector's) or, for a
        class in ``class_thresholds`` ({name: score}), that class's; returns the COCO
        file's path."""
        check_dataset_dir(out_dir)
        writer = DatasetWriter(self.class_names, self.backend.category_ids, image_dir,
                               self.threshold if threshold is None else threshold,
                               class_thresholds)
        for result in self.predict(image_dir, stream=True):
            rows = np.column_stack([result.class_ids, result.scores, result.boxes])
            writer.samples.append(writer.sample(result.path, rows))
        return writer.write(out_dir)

    def _detections(self, items):
        """(item, rows [k, 6] of every detection the model keeps) for each of ``items``,
        detected ``batch_size`` at a time."""
        while batch := list(itertools.islice(items, self.batch_size)):
            yield from zip(batch, self.backend.detect([item.image for item in batch]))

    def _results(self, items):
        for item, rows in self._detections(items):
            yield self._result(rows[rows[:, 1] >= self.threshold], item)

    def _tracked(self, items, tracker):
        for item, rows in self._detections(items):
            rows, track_ids = tracker.update(rows[rows[:, 1] >= self.tracking_threshold])
            yield self._result(rows, item, track_ids)

    def _result(self, rows, item, track_ids=None):
        return DetectionResult.from_rows(rows, item, self.backend.label_list,
                                         self.backend.category_ids, track_ids)


def config_of(config, overrides):
    """A Config from a config path (with ``overrides``) or a loaded Config."""
    if isinstance(config, Config):
        if overrides:
            raise ConfigError("overrides apply when loading a config file: pass its path, or "
                              "give them to ppfcos.load_config(path, overrides)")
        return config
    if not isinstance(config, (str, os.PathLike)):
        raise ConfigError(f"config must be a config file path or a ppfcos Config, got "
                          f"{type(config).__name__}")
    return load_config(os.fspath(config), overrides)


def start_device(device, use_gpu):
    """Run `setup_device`; ``device`` 'cpu', 'gpu' or None -> 'cpu' or 'gpu'.
    DeployError for another name, or 'gpu' on a machine or Paddle build without one."""
    if device is not None and device not in DEVICES:
        raise DeployError(f"device must be 'cpu', 'gpu' or None (the GPU when there is one), "
                          f"got {device!r}")
    found = setup_device(use_gpu)
    if device == "gpu" and found != "gpu":
        raise DeployError("device='gpu' needs a GPU build of Paddle (paddlepaddle-gpu) and a "
                          "GPU; use device='cpu'")
    return device or found


def check_threshold(threshold):
    """DeployError unless ``threshold`` is None or a score from 0 to 1."""
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(
            threshold, (int, float, np.floating)) or not 0 <= threshold <= 1):
        raise DeployError(f"threshold must be a score from 0 to 1, got {threshold!r}")


def check_batch_size(batch_size):
    """``batch_size`` if it is an integer >= 1, else DeployError."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise DeployError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return int(batch_size)
