"""PaddleDetection-style command-line flags, of deploy/python/infer.py and ppfcos's tools.

PaddleDetection's tools declare their switches in three ways (``action='store_true'``,
``type=bool``, ``type=ast.literal_eval``), so its docs write them as ``--eval``,
``--run_benchmark=True``, ``--save_results=True`` or ``--enable_mkldnn False``.
`add_bool_flag` accepts every one of these spellings; `add_unsupported_flags`
turns a PaddleDetection flag that is not implemented into one ``error:`` line saying
what to use instead.
"""
import argparse

from .slicing import SliceOptions
from .tracking import LOW_SCORE_THRESHOLD, TrackerOptions


def str2bool(text):
    """'True'/'False' (also true/false, yes/no, 1/0, any case) -> bool (argparse type)."""
    value = str(text).strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def positive_int(text):
    """An integer >= 1 (argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text):
    """A number > 0 (argparse type)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def add_bool_flag(parser, name, default=False, help=None):
    """A switch given bare (``--flag``: True) or with a value (``--flag=true``, ``--flag
    False``, ``--flag=1``)."""
    parser.add_argument(name, type=str2bool, nargs="?", const=True, default=default,
                        metavar="True|False", help=f"{help} (default {default})")


class UnsupportedFlag(argparse.Action):
    """A PaddleDetection flag that is not implemented: exit with one ``error:`` line."""

    def __init__(self, option_strings, dest, advice, **kwargs):
        super().__init__(option_strings, dest, nargs="*", help=argparse.SUPPRESS, **kwargs)
        self.advice = advice

    def __call__(self, parser, namespace, values, option_string=None):
        parser.exit(2, f"error: {option_string} is not supported by ppfcos: {self.advice}\n")


def add_unsupported_flags(parser, flags):
    """``flags``: {PaddleDetection flag: what to use instead}."""
    for flag, advice in flags.items():
        parser.add_argument(flag, action=UnsupportedFlag, advice=advice)


def add_tensorrt_flags(parser):
    """Paddle Inference's TensorRT settings, with PaddleDetection's names and defaults."""
    group = parser.add_argument_group("TensorRT (--run_mode trt_*, --device GPU)")
    group.add_argument("--trt_min_shape", type=int, default=1,
                       help="smallest image side of the dynamic-shape engine")
    group.add_argument("--trt_max_shape", type=int, default=1280,
                       help="largest image side of the dynamic-shape engine")
    group.add_argument("--trt_opt_shape", type=int, default=640,
                       help="image side the dynamic-shape engine is tuned for")
    add_bool_flag(group, "--trt_calib_mode", help="trt_int8: calibrate int8 scales from the "
                  "first runs (True), or use the scales of a quantized model (False)")
    add_bool_flag(group, "--collect_trt_shape_info", help="record every tensor's shape range "
                  "over this run into --tuned_trt_shape_file (works on CPU too)")
    group.add_argument("--tuned_trt_shape_file", default="shape_range_info.pbtxt",
                       help="shape ranges for TensorRT: written by --collect_trt_shape_info, "
                       "used by trt_* runs when the file exists")


def add_slice_flags(parser):
    """PaddleDetection's sliced-inference flags (read back by `slice_options`)."""
    group = parser.add_argument_group("sliced inference (needs pip install sahi)")
    add_bool_flag(group, "--slice_infer", help="detect on overlapping slices of each image and "
                  "merge the detections (small objects in large images)")
    group.add_argument("--slice_size", nargs=2, type=int, default=[640, 640],
                       metavar=("H", "W"), help="slice height and width in original pixels")
    group.add_argument("--overlap_ratio", nargs=2, type=float, default=[0.25, 0.25],
                       metavar=("RH", "RW"), help="overlap of neighbouring slices, as a "
                       "fraction of the slice height and width")
    group.add_argument("--combine_method", choices=["nms", "concat"], default="nms",
                       help="merge the slices' detections by class-wise NMS, or keep all")
    group.add_argument("--match_threshold", type=float, default=0.6,
                       help="overlap above which NMS drops the lower-scored box")
    group.add_argument("--match_metric", choices=["iou", "ios"], default="ios",
                       help="overlap: intersection over union, or over the smaller box")


def slice_options(args):
    """The SliceOptions of parsed slice flags, or None without ``--slice_infer``."""
    if not args.slice_infer:
        return None
    return SliceOptions(tuple(args.slice_size), tuple(args.overlap_ratio), args.combine_method,
                        args.match_threshold, args.match_metric)


def add_track_flags(parser):
    """``--track`` and ByteTrack's parameters (read back by `tracker_options`), with the
    defaults of trackers' ByteTrackTracker (tracking.TrackerOptions)."""
    defaults = TrackerOptions()
    group = parser.add_argument_group("tracking (--video_file or --camera_id; needs pip "
                                      "install trackers)")
    add_bool_flag(group, "--track", help=f"give each object a track id that it keeps from "
                  f"frame to frame (ByteTrack); draws \"id N name score\" and writes "
                  f"output_dir/<video stem>.txt in MOTChallenge's format. The tracker gets "
                  f"the detections >= --threshold (default with --track: "
                  f"{LOW_SCORE_THRESHOLD}), and the tracked ones are drawn and saved")
    group.add_argument("--track_thresh", type=float, default=defaults.track_thresh,
                       help="a detection scoring at least this starts a new track")
    group.add_argument("--track_high_thresh", type=float, default=defaults.track_high_thresh,
                       help="detections scoring at least this are matched to tracks first; "
                       "lower ones only continue the tracks left unmatched")
    group.add_argument("--track_buffer", type=int, default=defaults.track_buffer,
                       help="frames (at 30 fps, scaled to the video's frame rate) a lost "
                       "track is kept to be found again with its id")
    group.add_argument("--track_match_iou", type=float, default=defaults.track_match_iou,
                       help="least IoU of a detection and a track's predicted box to match")
    group.add_argument("--track_min_frames", type=int, default=defaults.track_min_frames,
                       help="frames in a row a track is matched before it gets an id (in "
                       "its second frame at the earliest)")


def tracker_options(args):
    """The TrackerOptions of parsed track flags, or None without ``--track``."""
    if not args.track:
        return None
    return TrackerOptions(args.track_thresh, args.track_high_thresh, args.track_buffer,
                          args.track_match_iou, args.track_min_frames)
