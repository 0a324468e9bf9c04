"""Helpers that are neither training nor model code, used across the packages.

    env.py        where and how a run executes: device, CPU threads, ranks, seeds, logging
    progress.py   a dependency-free progress bar for evaluation and inference loops
    visualize.py  detections above a score threshold, drawn (deploy's drawing) and as JSON

Nothing is imported here; import the module you need.
"""
