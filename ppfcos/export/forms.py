"""The config's ``export:`` keys (configs/runtime.yml), with PaddleDetection's meaning, and
the form of exported graph they ask for (ppfcos_runtime.host_postprocess.ExportForm).

- ``post_process: false``: the graph ends at the head: its raw outputs per FPN level, no
  decoding, no NMS (the ``raw`` form). It wins over ``nms`` (as in PaddleDetection, where
  no post-processing means no NMS either).
- ``nms: false``: the graph decodes, and ends before NMS: boxes and per-class scores of
  every location (the ``decoded`` form).
- ``benchmark: true``: PaddleDetection's switch for timing the network alone: it turns
  post_process and nms off, so it exports the ``raw`` form. PaddleDetection also fixes the
  batch at 1 there; ppfcos keeps any batch, as every runtime decodes raw outputs.
- ``fuse_conv_bn``: true folds each batch norm into the convolution before it (for any
  backbone: ppfcos.export.folding traces the network); false keeps the batch norms in
  the graph. ppfcos's default is true, as its exports always folded before the key was
  read (PaddleDetection's is false).

The host (ppfcos_runtime) decodes and runs NMS for the decoded and raw forms with the
settings each export records in its infer_cfg.yml, so every form gives the full export's
detections.
"""
from dataclasses import dataclass

from ppfcos_runtime.host_postprocess import EDGE_FORM, Decoding, ExportForm, NmsSettings

from ..core.config import ConfigError, register_section, section_settings
from ..core.messages import excerpt
from ..modeling.post_process import FCOSBox, FCOSPostProcess, MultiClassNMS

SECTION = "export"
# ppfcos's defaults: a full graph with batch norms folded (what every export wrote before).
EXPORT_DEFAULTS = {"post_process": True, "nms": True, "benchmark": False, "fuse_conv_bn": True}


@dataclass(frozen=True)
class ExportOptions:
    """What the ``export:`` keys ask for: ``form`` "full", "decoded" or "raw", and whether
    batch norms are folded into convolutions."""
    form: str = "full"
    fuse_conv_bn: bool = True


def check_export_section(cfg, name=SECTION):
    """ConfigError unless every ``export:`` key is true or false (load_config runs this)."""
    for key, value in section_settings(cfg, name, EXPORT_DEFAULTS).items():
        if not isinstance(value, bool):
            raise ConfigError(f"{cfg.origin(name, key)}: export.{key} must be true or false, "
                              f"got {excerpt(value)}")


register_section(SECTION, EXPORT_DEFAULTS, check_export_section)


def export_options(cfg):
    """The ExportOptions of ``cfg``'s ``export:`` section (EXPORT_DEFAULTS where a key is
    absent); ConfigError for an unknown key or a value that is not a bool."""
    check_export_section(cfg)
    keys = {**EXPORT_DEFAULTS, **section_settings(cfg, SECTION, EXPORT_DEFAULTS)}
    if keys["benchmark"] or not keys["post_process"]:
        form = "raw"
    else:
        form = "full" if keys["nms"] else "decoded"
    return ExportOptions(form, keys["fuse_conv_bn"])


def export_form(model, form):
    """The ExportForm (outputs, NMS settings, decoding) of ``model`` (an FCOS) exported as
    ``form``. ConfigError where the host could not give the full graph's detections: a
    post-process other than decoding followed by one MultiClassNMS (FCOSPostProcess), or
    adaptive NMS (nms_eta < 1)."""
    if form == "full":
        return ExportForm()
    post_process = model.post_process
    if not (isinstance(post_process, FCOSPostProcess) and isinstance(post_process.decode, FCOSBox)
            and isinstance(post_process.nms, MultiClassNMS)):
        raise ConfigError(f"export.nms: false and export.post_process: false leave decoding "
                          f"and NMS to the runtime, which runs FCOSBox then MultiClassNMS; "
                          f"this model's post-process is {type(post_process).__name__}: "
                          f"export with nms and post_process true")
    nms = post_process.nms
    settings = NmsSettings(float(nms.score_threshold), int(nms.nms_top_k), int(nms.keep_top_k),
                           float(nms.nms_threshold), bool(nms.normalized), float(nms.nms_eta),
                           int(nms.background_label))
    if settings.nms_eta < 1.0:
        raise ConfigError(f"export.nms: false and export.post_process: false leave NMS to the "
                          f"runtime, which has no adaptive NMS (nms_eta "
                          f"{settings.nms_eta:g}): set nms_eta: 1.0 or export with nms true")
    if form == "decoded":
        return ExportForm.decoded(settings)
    if form == EDGE_FORM:
        return ExportForm.edge(settings)
    head = model.fcos_head
    return ExportForm.raw(settings, Decoding(tuple(head.fpn_stride), float(head.num_shift),
                                             bool(post_process.decode.sqrt_score)))
