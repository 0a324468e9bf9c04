"""Weights by URL: download once into a local cache, then reuse the cached file.

The cache is ``$PPFCOS_HOME/weights`` when ``PPFCOS_HOME`` is set, otherwise
``~/.cache/ppfcos/weights``; a file is cached under the URL's basename. A download
goes to ``<name>.part-<pid>`` next to its final path and is renamed into place only
once complete and readable as weights (by the safe reader, so an error page served
with status 200 never enters the cache); parts left by killed downloads are removed
by the next download. On an offline machine, put the file at the cache path by hand.
"""
import http.client
import os
import posixpath
import urllib.parse
import urllib.request

from ..core.files import atomic_path, remove_stale_temporaries
from .errors import WeightsError
from .state_file import read_state_file

CHUNK_BYTES = 1 << 20


def is_url(path):
    """True for an ``http://`` or ``https://`` address."""
    return path.startswith(("http://", "https://"))


def default_cache_dir():
    """``$PPFCOS_HOME/weights`` if the variable is set, else ``~/.cache/ppfcos/weights``."""
    home = os.environ.get("PPFCOS_HOME")
    if home:
        return os.path.join(home, "weights")
    return os.path.join(os.path.expanduser("~"), ".cache", "ppfcos", "weights")


def cache_path(url, cache_dir=None):
    """Where ``url`` is cached: the cache dir joined with the URL's basename."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path)
    if not name:
        raise WeightsError(f"cannot name a cache file for {url}: the URL has no file name")
    return os.path.join(cache_dir or default_cache_dir(), name)


def fetch(url, cache_dir=None, timeout=60):
    """Local path of the weights at ``url``, downloading them unless already cached.

    timeout: seconds to wait for the connection and for each chunk.
    Raises WeightsError naming the URL, the reason and the cache path.
    """
    path = cache_path(url, cache_dir)
    if os.path.isfile(path):
        return path
    remove_stale_temporaries(os.path.dirname(path))
    try:
        print(f"downloading {url} -> {path}", flush=True)
        with atomic_path(path, suffix="part") as part:
            _download(url, part, timeout)
            read_state_file(part)   # WeightsError (not cached) unless it holds weights
    except (OSError, ValueError, http.client.HTTPException) as e:  # ValueError: WeightsError
        raise WeightsError(f"cannot download weights {url}: {type(e).__name__}: {e}\n"
                           f"on an offline machine, put the file by hand at {path}") from e
    return path


def _download(url, target, timeout):
    """Stream ``url`` into ``target`` in chunks; check the size against Content-Length."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        expected = response.headers.get("Content-Length")
        received = 0
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            received += len(chunk)
    if expected is not None and received != int(expected):
        raise WeightsError(f"truncated download: received {received} of {expected} bytes")
