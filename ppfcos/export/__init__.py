"""Static inference models: export (program + weights + infer_cfg.yml) and running them."""
from .exporter import export_model, program_file  # noqa: F401
