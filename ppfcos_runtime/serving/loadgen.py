"""A bounded load generator: ``concurrency`` keep-alive HTTP/1.1 connections on asyncio, each
sending its next request as soon as its previous answer is read (a closed loop), until
``total`` requests are answered.

It builds each request's bytes once and parses only the status line and Content-Length of an
answer, so it spends little CPU of its own (benchmarks/benchmark_serve.py reports its share beside
the server's: on a small machine the two compete for the same cores).
"""
import asyncio
import time
from dataclasses import dataclass, field


def raw_request(host, port, path, body, content_type="image/jpeg"):
    """The bytes of a keep-alive POST of ``body``."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def read_response(reader):
    """(status, body bytes) of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                   if line.lower().startswith("content-length:")), 0)
    return status, await reader.readexactly(length)


@dataclass
class LoadResult:
    """Latencies (seconds) of the answered requests, the non-200 answers, the wall time,
    and the bodies (in request order of each connection) when kept."""
    latencies: list = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    bodies: dict = field(default_factory=dict)

    def percentile(self, q):
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    @property
    def rate(self):
        """Answered requests per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def run_load(host, port, requests, concurrency, total, keep_bodies=False):
    """Send ``total`` of ``requests`` (raw bytes, used round-robin: request i is
    requests[i % len]) over ``concurrency`` connections -> LoadResult. With
    ``keep_bodies``, result.bodies maps each request index to (status, body)."""
    result = LoadResult()
    next_index = iter(range(total))

    async def connection():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for index in next_index:
                started = time.perf_counter()
                writer.write(requests[index % len(requests)])
                status, body = await read_response(reader)
                result.latencies.append(time.perf_counter() - started)
                result.errors += status != 200
                if keep_bodies:
                    result.bodies[index] = (status, body)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result
