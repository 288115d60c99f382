"""Denial-of-service hardening of `netweave serve`, measured on loopback against the real server (one worker, TLS).

1. Latency under a large request: 4-network pod admissions (100/s) and GET /healthz (20/s), each from its own
   process on a keep-alive connection, first alone, then while a third process keeps a large review in flight,
   back to back or 5 per second (a 1 MiB networks annotation, a 3 MiB one, and the largest annotations the rules
   still check). p50/p99 from the scheduled send time (no coordinated omission).
2. Slow loris: N TLS connections (default 2,000) that send a request line and then one header byte per second.
   Counts how many the server closes and when; /healthz latency meanwhile; server RSS before, during, after.
   Twice, then N TCP connections that never start the TLS handshake, then 256 keep-alive connections posting
   admissions back to back while a probe opens a new TLS connection for each /healthz.
3. Fuzz: 20,000 malformed or invented reviews (random kinds, odd strings, lone surrogates, bad shapes); server RSS
   and /metrics size before and after, and the status codes seen.

Bounded: every phase has a fixed duration or count; loopback only.

    .venv/bin/python benchmarks/webhook_hardening.py [--duration 8] [--slow 2000] [--fuzz 20000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import re
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processes import stop  # noqa: E402

from certs.rotation import dev_certificates  # noqa: E402

CAPTURED = REPO / "tests" / "fixtures" / "admission" / "009-create-pod-samplepod.json"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
NAMESPACE = "bench"


# -- the server ----------------------------------------------------------------------------------------------------
def write_nads(directory: Path, count: int = 4) -> None:
    directory.mkdir(parents=True)
    for i in range(count):
        config = {"cniVersion": "0.3.1", "type": "bridge", "bridge": f"br-bench{i}",
                  "ipam": {"type": "host-local", "subnet": f"10.{100 + i}.0.0/24"}}
        nad = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
               "metadata": {"name": f"bench-net-{i}", "namespace": NAMESPACE}, "spec": {"config": json.dumps(config)}}
        (directory / f"nad-{i}.json").write_text(json.dumps(nad))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # loopback benchmark; the tests verify the certificate chain
    return context


@contextmanager
def server(workdir: Path) -> Iterator[tuple[int, int]]:
    """`netweave serve` with the default limits; yields (port, pid)."""
    cert, key = dev_certificates(workdir / "certs")
    write_nads(workdir / "nads")
    port = free_port()
    cmd = [sys.executable, "-m", "netweave", "serve", "--listen", f"127.0.0.1:{port}", "--tls-cert", str(cert),
           "--tls-key", str(key), "--catalog", str(workdir / "nads"), "--log-level", "warning"]
    with (workdir / "serve.log").open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if RawClient(port).get("/readyz")[0] == 200:
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("netweave serve did not start") from None
                    time.sleep(0.1)
            yield port, proc.pid
        finally:
            stop(proc)


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


class RawClient:
    """One keep-alive HTTPS connection with minimal response parsing (status, Content-Length)."""

    def __init__(self, port: int) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = tls_context().wrap_socket(raw)
        self.port = port
        self.pending = b""

    def send(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.sock.sendall(head + body)
        data = self.pending
        while (end := data.find(b"\r\n\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            data += chunk
        header = data[:end].decode("latin-1")
        status = int(header.split(" ", 2)[1])
        length = int(re.search(r"(?im)^content-length:\s*(\d+)", header).group(1))  # type: ignore[union-attr]
        total = end + 4 + length
        while len(data) < total:
            data += self.sock.recv(65536)
        self.pending = data[total:]
        return status, data[end + 4:total]

    def get(self, path: str) -> tuple[int, bytes]:
        return self.send("GET", path)

    def close(self) -> None:
        self.sock.close()


# -- request bodies ------------------------------------------------------------------------------------------------
def pod_review(networks: str, uid: str = "00000000-0000-0000-0000-000000000004") -> bytes:
    doc: dict[str, Any] = json.loads(CAPTURED.read_text())
    request = doc["request"]
    request["uid"] = uid
    request["namespace"] = request["object"]["metadata"]["namespace"] = NAMESPACE
    request["object"]["metadata"]["annotations"][NETWORKS] = networks
    return json.dumps(doc).encode()


FOUR = ",".join(f"bench-net-{i}" for i in range(4))
LARGE = {
    "1 MiB annotation": pod_review("bench-net-0," * (1024 * 1024 // 12)),
    "3 MiB annotation (body at the limit)": pod_review("bench-net-0," * (3 * 1024 * 1024 // 12 - 1000)),
    # The heaviest reviews the rules still run on: one network annotation just under 64 KiB.
    "64 KiB short-form list, fully checked": pod_review("bench-net-0," * (64 * 1024 // 12 - 1)),
    "64 KiB JSON list of bad elements, fully checked": pod_review(json.dumps(
        [{"name": f"bad name {i}", "interface": "eth0", "mac": "zz"} for i in range(1_150)])),
}


# -- phase 1: latency while a large request is in flight -------------------------------------------------------------
def paced(port: int, method: str, path: str, body: bytes, rate: float, duration: float, start_at: float,
          out: Any) -> None:
    client = RawClient(port)
    client.send(method, path, body)  # warm the connection
    interval, latencies = 1.0 / rate, []
    while time.monotonic() < start_at:
        time.sleep(0.001)
    for i in range(int(rate * duration)):
        scheduled = start_at + i * interval
        if (now := time.monotonic()) < scheduled:
            time.sleep(scheduled - now)
        status, _ = client.send(method, path, body)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}")
        latencies.append(time.monotonic() - scheduled)
    client.close()
    out.put((path, latencies))


def hammer(port: int, body: bytes, duration: float, start_at: float, every: float, out: Any) -> None:
    """Sends one large review after another (every ``every`` seconds, or back to back when 0) for the whole
    window; reports each one's latency and status."""
    client = RawClient(port)
    while time.monotonic() < start_at:
        time.sleep(0.001)
    seen: list[tuple[int, float]] = []
    while time.monotonic() < start_at + duration:
        if every and seen:
            time.sleep(max(0.0, start_at + len(seen) * every - time.monotonic()))
        t0 = time.monotonic()
        status, _ = client.send("POST", "/mutate", body)
        seen.append((status, time.monotonic() - t0))
        if status == 413:  # the connection may be closed after an unread body: reconnect
            client.close()
            client = RawClient(port)
    client.close()
    out.put(("large", seen))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def latency_phase(port: int, duration: float, large: bytes | None, every: float = 0.0) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.monotonic() + 1.0
    procs = [ctx.Process(target=paced, args=(port, "POST", "/mutate", pod_review(FOUR), 100.0, duration, start_at,
                                             out)),
             ctx.Process(target=paced, args=(port, "GET", "/healthz", b"", 20.0, duration, start_at, out))]
    if large is not None:
        procs.append(ctx.Process(target=hammer, args=(port, large, duration, start_at - 0.5, every, out)))
    for p in procs:
        p.start()
    results = dict(out.get(timeout=duration + 120) for _ in procs)
    for p in procs:
        p.join()
    row: dict[str, Any] = {}
    for path, name in (("/mutate", "admission"), ("/healthz", "healthz")):
        for label, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            row[f"{name}_{label}_ms"] = percentile(results[path], q)
    if large is not None:
        seen = results["large"]
        row["large_requests"] = len(seen)
        row["large_status"] = dict(Counter(status for status, _ in seen))
        row["large_median_ms"] = percentile([t for _, t in seen], 0.5)
    return row


# -- phase 2: slow loris -------------------------------------------------------------------------------------------
async def slow_loris(port: int, count: int, limit_s: float, pid: int) -> dict[str, Any]:
    context = tls_context()
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    failed_open = 0

    async def open_one() -> None:
        nonlocal failed_open
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=context), timeout=30)
            writer.write(b"POST /mutate HTTP/1.1\r\nHost: x\r\n")
            opened.append((reader, writer))
        except (TimeoutError, OSError):
            failed_open += 1

    rss_before = rss_mib(pid)
    t0 = time.monotonic()
    for start in range(0, count, 100):  # 100 handshakes at a time
        await asyncio.gather(*(open_one() for _ in range(start, min(count, start + 100))))
    opened_s = time.monotonic() - t0
    rss_during = rss_mib(pid)
    closed_at: list[float] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        deadline = t0 + limit_s
        while time.monotonic() < deadline:
            try:
                writer.write(b"X")
                await writer.drain()
                if await asyncio.wait_for(reader.read(1), timeout=1.0) == b"":
                    break
            except TimeoutError:
                continue
            except (OSError, ssl.SSLError):
                break
        else:
            return
        closed_at.append(time.monotonic() - t0)
        writer.transport.abort()

    async def probe() -> list[float]:
        loop = asyncio.get_running_loop()
        samples: list[float] = []
        while len(closed_at) < len(opened) and time.monotonic() < t0 + limit_s:
            samples.append(await loop.run_in_executor(None, healthz_once, port))
            await asyncio.sleep(0.2)
        return samples

    tasks = [asyncio.create_task(trickle(r, w)) for r, w in opened]
    health = await probe()
    await asyncio.gather(*tasks)
    reaped = len(closed_at)
    for _, writer in opened:
        writer.transport.abort()
    await asyncio.sleep(1.0)
    return {"slow_connections": count, "opened": len(opened), "refused_at_open": failed_open,
            "open_seconds": round(opened_s, 1), "reaped": reaped,
            "first_reaped_s": round(min(closed_at), 1) if closed_at else None,
            "all_reaped_s": round(max(closed_at), 1) if reaped == len(opened) and closed_at else None,
            "healthz_probes_during": len(health), "healthz_refused_during": sum(1 for h in health if h == float("inf")),
            "healthz_p50_ms_during": round(percentile(health, 0.5), 1),
            "healthz_max_ms_during": round(percentile(health, 1.0), 1),
            "rss_mib_before": round(rss_before, 1), "rss_mib_with_connections": round(rss_during, 1),
            "rss_mib_after": round(rss_mib(pid), 1)}


async def silent_tcp(port: int, count: int, limit_s: float) -> dict[str, Any]:
    """``count`` TCP connections that never send a TLS ClientHello: when does the server drop them?"""
    t0 = time.monotonic()
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(count):
        try:
            opened.append(await asyncio.open_connection("127.0.0.1", port))
        except OSError:
            break
    closed_at: list[float] = []

    async def wait(reader: asyncio.StreamReader) -> None:
        try:
            await asyncio.wait_for(reader.read(1), timeout=max(0.1, t0 + limit_s - time.monotonic()))
        except TimeoutError:
            return
        except OSError:
            pass
        closed_at.append(time.monotonic() - t0)

    await asyncio.gather(*(wait(reader) for reader, _ in opened))
    for _, writer in opened:
        writer.transport.abort()
    return {"silent_connections": len(opened), "dropped": len(closed_at),
            "first_dropped_s": round(min(closed_at), 1) if closed_at else None,
            "all_dropped_s": round(max(closed_at), 1) if len(closed_at) == len(opened) and closed_at else None}


def probe_healthz(port: int, end: float, out: Any) -> None:
    """Until ``end``: every 0.2 s a new TLS connection and one GET /healthz; seconds each (inf when refused)."""
    samples: list[float] = []
    while time.monotonic() < end:
        samples.append(healthz_once(port))
        time.sleep(0.2)
    out.put(samples)


def healthz_once(port: int) -> float:
    """A new TLS connection and one GET /healthz, as a kubelet probe does: seconds, inf when refused."""
    start = time.monotonic()
    try:
        client = RawClient(port)
        try:
            status, _ = client.get("/healthz")
        finally:
            client.close()
    except OSError:
        return float("inf")
    return time.monotonic() - start if status == 200 else float("inf")


async def busy_connections(port: int, count: int, duration: float) -> dict[str, Any]:
    """``count`` keep-alive TLS connections posting 4-network reviews back to back; meanwhile a probe opens a new
    TLS connection for each GET /healthz, as the kubelet does."""
    body = pod_review(FOUR)
    request = (f"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    answered = 0
    connections = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port, ssl=tls_context())
                                         for _ in range(count)))
    end = time.monotonic() + duration  # the clock starts once all are connected

    async def busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        while time.monotonic() < end:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            answered += 1
        writer.transport.abort()

    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    prober = ctx.Process(target=probe_healthz, args=(port, end, out))  # its own process: no GIL shared with us
    prober.start()
    await asyncio.gather(*(busy(reader, writer) for reader, writer in connections), return_exceptions=True)
    samples: list[float] = out.get(timeout=60)
    prober.join()
    return {"busy_connections": count, "seconds": duration, "admissions_per_s": round(answered / duration),
            "healthz_probes": len(samples), "healthz_refused": sum(1 for x in samples if x == float("inf")),
            "healthz_new_connection_p50_ms": round(percentile(samples, 0.5), 1),
            "healthz_new_connection_max_ms": round(percentile(samples, 1.0), 1)}


# -- phase 3: fuzzed reviews -----------------------------------------------------------------------------------------
ODD = ["\ud800", "\x1b[31m", "\u2028", "\x00", "a" * 300, "eth0", "net1@\udfff", "ns/x@y", "", "é"]


def fuzzed(rng: random.Random, n: int) -> bytes:
    kind = rng.choice(["Pod", "Deployment", "NetworkAttachmentDefinition", f"Invented{n}", rng.choice(ODD)])
    annotations: Any = {NETWORKS: rng.choice([FOUR, rng.choice(ODD), json.dumps([{"name": rng.choice(ODD)}])])}
    if rng.random() < 0.1:
        annotations = rng.choice(["x", [1], 5])
    request: Any = {"uid": f"u{n}", "operation": rng.choice(["CREATE", "UPDATE", {"x": 1}, None]),
                    "kind": {"group": "", "version": "v1", "kind": kind}, "namespace": NAMESPACE,
                    "object": {"metadata": {"name": f"p{n}", "annotations": annotations},
                               "spec": {"containers": [{"name": "c"}]}}}
    if rng.random() < 0.05:
        request = rng.choice(["x", [request], None])
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


def fuzz_phase(port: int, pid: int, count: int) -> dict[str, Any]:
    rng = random.Random(20261129)
    client = RawClient(port)
    metrics_before = len(client.get("/metrics")[1])
    rss_before = rss_mib(pid)
    statuses: Counter[int] = Counter()
    t0 = time.monotonic()
    for n in range(count):
        statuses[client.send("POST", "/validate" if n % 2 else "/mutate", fuzzed(rng, n))[0]] += 1
    elapsed = time.monotonic() - t0
    status, body = client.get("/metrics")
    client.close()
    return {"fuzzed_reviews": count, "seconds": round(elapsed, 1), "status_codes": dict(sorted(statuses.items())),
            "rss_mib_before": round(rss_before, 1), "rss_mib_after": round(rss_mib(pid), 1),
            "metrics_bytes_before": metrics_before, "metrics_bytes_after": len(body), "metrics_status": status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per latency run (default 8)")
    parser.add_argument("--slow", type=int, default=2000, help="slow connections (default 2000)")
    parser.add_argument("--slow-limit", type=float, default=60.0, help="give up waiting for reaping after (s)")
    parser.add_argument("--fuzz", type=int, default=20000, help="fuzzed reviews (default 20000)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.slow * 2 + 1024)), hard))
    results: dict[str, Any] = {"latency": {}}
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as (port, pid):
        results["latency"]["baseline (nothing else)"] = latency_phase(port, args.duration, None)
        for name, body in LARGE.items():
            results["latency"][f"{name} ({len(body) // 1024} KiB body), back to back"] = latency_phase(
                port, args.duration, body)
        for name in ("1 MiB annotation", "3 MiB annotation (body at the limit)"):
            results["latency"][f"{name}, 5 per second"] = latency_phase(port, args.duration, LARGE[name], 0.2)
        results["slow_loris"] = asyncio.run(slow_loris(port, args.slow, args.slow_limit, pid))
        results["slow_loris_again"] = asyncio.run(slow_loris(port, args.slow, args.slow_limit, pid))  # leaks?
        results["no_handshake"] = asyncio.run(silent_tcp(port, args.slow, args.slow_limit))
        results["busy"] = asyncio.run(busy_connections(port, 256, args.duration))
        results["fuzz"] = fuzz_phase(port, pid, args.fuzz)
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def render(results: dict[str, Any]) -> str:
    lines = ["| load | 4-network admission p50 / p99 / max (ms) | /healthz p50 / p99 / max (ms) | large request |",
             "|---|---|---|---|"]
    for name, row in results["latency"].items():
        large = (f"{row['large_requests']} sent, status {row['large_status']}, median {row['large_median_ms']:.1f} ms"
                 if "large_requests" in row else "—")
        lines.append(f"| {name} | {row['admission_p50_ms']:.2f} / {row['admission_p99_ms']:.2f} / "
                     f"{row['admission_max_ms']:.2f} | {row['healthz_p50_ms']:.2f} / {row['healthz_p99_ms']:.2f} / "
                     f"{row['healthz_max_ms']:.2f} | {large} |")
    lines += ["", "slow loris: " + json.dumps(results["slow_loris"]),
              "slow loris, second round: " + json.dumps(results["slow_loris_again"]),
              "no TLS handshake: " + json.dumps(results["no_handshake"]),
              "256 busy connections: " + json.dumps(results["busy"]),
              "", "fuzz: " + json.dumps(results["fuzz"])]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
