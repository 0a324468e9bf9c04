"""Test-time augmentation: detect on rescaled and horizontally flipped views of the input
and merge every view's candidates before the one NMS of the post-process.

Each view runs the network on the batch's input tensor ([N, 3, H, W], already through
the reader) resized by ``scale`` (bilinear, each side rounded to a multiple of
``SIZE_DIVISOR`` so every pyramid level lines up; scale 1 keeps the input as it is),
and, with ``flip``, on its mirror image too. The model decodes each view's boxes into
original-image pixels (its ``scale_factor`` times the view's own scale); a flipped
view's boxes are mirrored back across the input's width. The boxes and scores of all
views are concatenated and go through the post-process's NMS once, so overlapping
detections of several views are suppressed as those of one view are.

With ``scales [1.0]`` and no flip this is exactly the model's own forward. Dygraph only:
an export keeps one view.
"""
import paddle
import paddle.nn.functional as F

from ..core.registry import register

SIZE_DIVISOR = 32   # the coarsest backbone stride of the zoo and demo networks


@register
class TTA:
    """The views of test-time augmentation, from a config's ``TTA`` section: each of
    ``scales`` (factors of the input size), each also mirrored left-right when ``flip``.

    Args:
        scales: list of factors in (0, 4].
        flip: add the mirror image of each scale's view.
    """

    def __init__(self, scales=(1.0,), flip=True):
        if (not isinstance(scales, (list, tuple)) or not scales or any(
                isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 4
                for s in scales)):
            raise ValueError(f"scales must be a non-empty list of factors in (0, 4], e.g. "
                             f"[0.8, 1.0, 1.2], got {scales!r}")
        if not isinstance(flip, bool):
            raise ValueError(f"flip must be true or false, got {flip!r}")
        self.scales = tuple(float(s) for s in scales)
        self.flip = flip

    def views(self):
        """(scale, flipped) of each view, in the order they run."""
        return [(scale, flipped) for scale in self.scales
                for flipped in ((False, True) if self.flip else (False,))]


def resized(image, scale):
    """image [N, 3, H, W] -> (view [N, 3, h, w], (h / H, w / W)); h, w = H, W * scale
    rounded to multiples of SIZE_DIVISOR (at least one), or the image itself at scale 1."""
    height, width = image.shape[2:]
    if scale == 1.0:
        return image, (1.0, 1.0)
    h, w = (max(SIZE_DIVISOR, round(side * scale / SIZE_DIVISOR) * SIZE_DIVISOR)
            for side in (height, width))
    view = F.interpolate(image, size=[h, w], mode="bilinear", align_corners=False)
    return view, (h / height, w / width)


def mirrored(boxes, width):
    """boxes [N, M, 4] (x1, y1, x2, y2) -> their mirror images across x = width / 2;
    ``width`` [N, 1] per image."""
    x1, y1, x2, y2 = paddle.unbind(boxes, axis=-1)
    return paddle.stack([width - x2, y1, width - x1, y2], axis=-1)


class TTADetector:
    """The eval interface of a detector (batch dict -> ``bbox`` [K, 6], ``bbox_num`` [N])
    over the views of ``options``.

    Args:
        model: an FCOS whose post-process decodes before one NMS (``candidates``).
        options: TTA (the views).
    """

    def __init__(self, model, options):
        if not hasattr(model.post_process, "candidates"):
            raise ValueError(f"test-time augmentation merges decoded candidates before one "
                             f"NMS, which {type(model.post_process).__name__} does not have: "
                             f"use FCOSPostProcess (the default) or run without TTA")
        self.model = model
        self.options = options

    def eval(self):
        """Put the model in eval mode (as ``paddle.nn.Layer.eval``); returns self."""
        self.model.eval()
        return self

    def __call__(self, inputs):
        """inputs: ``image`` [N, 3, H, W] and optionally ``scale_factor`` [N, 2] (y, x) ->
        {"bbox": [K, 6], "bbox_num": [N]} over every view."""
        image = inputs["image"]
        scale_factor = inputs.get("scale_factor")
        if scale_factor is None:
            scale_factor = paddle.ones([image.shape[0], 2], dtype="float32")
        boxes, scores = [], []
        for scale, flipped in self.options.views():
            view, (scale_y, scale_x) = resized(image, scale)
            view_factor = scale_factor if scale == 1.0 else scale_factor * paddle.to_tensor(
                [[scale_y, scale_x]], dtype=scale_factor.dtype)
            view_boxes, view_scores = self.model.candidates(
                {"image": view.flip(axis=[3]) if flipped else view,
                 "scale_factor": view_factor})
            if flipped:   # mirror across the view's width, in original-image pixels
                width = view.shape[3] / view_factor[:, 1:2]
                view_boxes = mirrored(view_boxes, width)
            boxes.append(view_boxes)
            scores.append(view_scores)
        bbox, bbox_num = self.model.post_process.nms(paddle.concat(boxes, axis=1),
                                                     paddle.concat(scores, axis=2))
        return {"bbox": bbox, "bbox_num": bbox_num}
