"""A dependency-free progress bar for evaluation and inference loops."""
import sys
import time


def progress(iterable, total, desc, stream=None, min_interval=2.0):
    """Yield from ``iterable``, drawing ``desc [=====>    ] i/total elapsed eta``.

    On a terminal the bar redraws in place; in a log file a line is written at
    most every ``min_interval`` seconds, and always for the last item.
    """
    stream = stream or sys.stderr
    interactive = stream.isatty()
    start = last = time.perf_counter()
    for i, item in enumerate(iterable, 1):
        yield item
        now = time.perf_counter()
        if interactive or now - last >= min_interval or i == total:
            last = now
            stream.write(("\r" if interactive else "") + _bar(desc, i, total, now - start)
                         + ("" if interactive and i != total else "\n"))
            stream.flush()


def _bar(desc, done, total, elapsed, width=30):
    total = max(total, done)
    filled = int(width * done / total) if total else width
    eta = elapsed / done * (total - done) if done else 0.0
    arrow = "=" * max(filled - 1, 0) + (">" if filled else "")
    return (f"{desc} [{arrow:<{width}}] {done}/{total} "
            f"{_clock(elapsed)} elapsed, eta {_clock(eta)}")


def _clock(seconds):
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
