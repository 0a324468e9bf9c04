"""Process-level helpers that are neither training nor model code.

    env.py       where and how a run executes: device, CPU threads, ranks, seeds, logging
    progress.py  a dependency-free progress bar for evaluation and inference loops

Nothing is imported here; import the module you need.
"""
