"""Everything around a built model: training and its hooks, evaluation, inference, weights.

    trainer.py     the loop (forward, backward, update) and HookBase
    hooks.py       logging, checkpoints, evaluation + best_model, VisualDL
    optimizer.py   LR schedules (PiecewiseDecay, CosineDecay, LinearWarmup) and optimizers
    snapshot.py    atomic save / exact resume of model + optimizer + progress
    checkpoint.py  loading weights by name (strict or with a report); download.py: URLs
    evaluator.py   per-image detections, gathering across ranks, COCO/VOC metric choice
    infer.py       drawing detections on image files (visualize.py draws)
    slicing.py     sliced inference: windows of large images, merged detections (sahi)
    env.py         device, CPU threads, ranks, seeds, logging
    tasks.py       train / evaluate / infer from a config (what tools/ call); cli.py: -c/-o, flags
"""
