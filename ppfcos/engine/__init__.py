"""Training and running a built model: the loop and its hooks, inference, the tools' tasks.

    trainer.py        the loop (forward, backward, update) and HookBase
    hooks.py          logging, checkpoints, evaluation, best model, VisualDL
    storage.py        TrainingStorage: the one store hooks share results through
    optimizer.py      LR schedules (PiecewiseDecay, CosineDecay, LinearWarmup) and optimizers
    preflight.py      checks before the first training step (save_dir, classes, image sizes)
    infer.py          detections on image files: annotated copies, bbox.json
    slicing.py        sliced inference: windows of large images, merged detections (sahi)
    tasks.py          train / evaluate / infer / export from a config (what tools/ call)
    cli.py            the tools' -c/-o arguments, flags and one-line errors
    benchmark.py      speed and memory figures (benchmarks/benchmark.py)

Beside it: weights I/O in `ppfcos.checkpoint`, evaluation and metrics in
`ppfcos.evaluation`, process setup (device, threads, ranks, logging) and the
drawing of detections in `ppfcos.utils`.
"""
