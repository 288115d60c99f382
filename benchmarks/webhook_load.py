"""Sustained HTTPS keep-alive load against `netweave serve` on loopback, for pods with 1, 4 and 16 networks.

Phase 1 (one worker): a fixed rate (default 300 requests/s) from 2 client processes, each on one keep-alive
TLS connection (a raw `ssl` socket, pre-encoded request); latency is measured from the scheduled send time (no
coordinated omission) and from the actual send.
Phase 2 (two workers, and one for comparison): closed-loop maximum throughput with `wrk` (C, one thread) when
it is installed, else with Python client processes. Bounded: every run lasts --duration seconds; loopback only.

    .venv/bin/python benchmarks/webhook_load.py [--duration 10] [--rate 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from processes import publish, stop

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from certs.rotation import dev_certificates  # noqa: E402

NETWORK_COUNTS = (1, 4, 16)
CAPTURED = REPO / "tests" / "fixtures" / "admission" / "009-create-pod-samplepod.json"
NAMESPACE = "bench"


def nad(i: int) -> dict[str, Any]:
    config = {"cniVersion": "0.3.1", "type": "bridge", "bridge": f"br-bench{i}",
              "ipam": {"type": "host-local", "subnet": f"10.{100 + i}.0.0/24"}}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": f"bench-net-{i}", "namespace": NAMESPACE}, "spec": {"config": json.dumps(config)}}


def review_body(networks: int) -> bytes:
    """The captured Pod CREATE review (kube-apiserver 1.24, with managedFields and last-applied) asking for
    ``networks`` attachments in the short form, which admission canonicalises, so the answer carries a patch."""
    doc: dict[str, Any] = json.loads(CAPTURED.read_text())
    request = doc["request"]
    request["uid"] = f"00000000-0000-0000-0000-{networks:012d}"
    request["namespace"] = request["object"]["metadata"]["namespace"] = NAMESPACE
    names = ",".join(f"bench-net-{i}" for i in range(networks))
    request["object"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = names
    return json.dumps(doc).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connect(port: int) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # loopback benchmark; the tests verify the certificate chain
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def post(conn: http.client.HTTPSConnection, body: bytes) -> bytes:
    conn.request("POST", "/mutate", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
    return data


@contextmanager
def server(workdir: Path, *, workers: int) -> Iterator[int]:
    cert, key = dev_certificates(workdir / "certs")
    port = free_port()
    cmd = [sys.executable, "-m", "netweave", "serve", "--listen", f"127.0.0.1:{port}", "--tls-cert", str(cert),
           "--tls-key", str(key), "--catalog", str(workdir / "nads"), "--workers", str(workers),
           "--log-level", "warning"]
    log = (workdir / f"serve-{workers}.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, proc)
        yield port
    finally:
        stop(proc)
        log.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"netweave serve exited with {proc.returncode}")
        try:
            conn = connect(port)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("netweave serve did not become ready")


class RawClient:
    """The leanest keep-alive HTTPS client Python allows: one pre-encoded request, minimal response parsing
    (status line and Content-Length), so the client adds as little as possible to the measured latency."""

    def __init__(self, port: int, body: bytes) -> None:
        conn = connect(port)
        assert isinstance(conn.sock, ssl.SSLSocket)
        self.sock = conn.sock
        self.request = (f"POST /mutate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self.pending = b""

    def post(self) -> None:
        self.sock.sendall(self.request)
        data = self.pending
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self.sock.recv(65536)
        head = data[:end].decode("latin-1")
        if not head.startswith("HTTP/1.1 200"):
            raise RuntimeError(head.splitlines()[0])
        length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        total = end + 4 + length
        while len(data) < total:
            data += self.sock.recv(65536)
        self.pending = data[total:]

    def close(self) -> None:
        self.sock.close()


def paced_client(port: int, body: bytes, rate: float, duration: float, start_at: float,
                 out: Any) -> None:
    """One keep-alive connection sending at ``rate``/s; latencies from the scheduled send time, and (as
    ``service``) from the actual send."""
    client = RawClient(port, body)
    client.post()  # warm the connection
    interval = 1.0 / rate
    latencies: list[float] = []
    service: list[float] = []
    late = 0
    count = int(rate * duration)
    while time.monotonic() < start_at:
        time.sleep(0.001)
    for i in range(count):
        scheduled = start_at + i * interval
        now = time.monotonic()
        if now < scheduled:
            time.sleep(scheduled - now)
        elif now - scheduled > interval:
            late += 1
        sent = time.monotonic()
        client.post()
        done = time.monotonic()
        latencies.append(done - scheduled)
        service.append(done - sent)
    client.close()
    out.put((latencies, late, service))


def closed_client(port: int, body: bytes, duration: float, start_at: float, out: Any) -> None:
    conn = connect(port)
    post(conn, body)
    latencies: list[float] = []
    while time.monotonic() < start_at:
        time.sleep(0.001)
    end = start_at + duration
    while (t0 := time.monotonic()) < end:
        post(conn, body)
        latencies.append(time.monotonic() - t0)
    conn.close()
    out.put((latencies, 0, latencies))


def run_clients(target: Any, args: Sequence[Any], processes: int) -> tuple[list[float], int, list[float]]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.monotonic() + 1.0
    procs = [ctx.Process(target=target, args=(*args, start_at, queue)) for _ in range(processes)]
    for p in procs:
        p.start()
    latencies: list[float] = []
    service: list[float] = []
    late = 0
    for _ in procs:
        lat, lt, srv = queue.get(timeout=600)
        latencies.extend(lat)
        service.extend(srv)
        late += lt
    for p in procs:
        p.join()
    return latencies, late, service


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(latencies: Sequence[float], seconds: float) -> dict[str, float]:
    return {"requests": len(latencies), "rps": round(len(latencies) / seconds, 1),
            "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
            "max_ms": round(max(latencies) * 1000, 2), "mean_ms": round(statistics.fmean(latencies) * 1000, 2)}


def wrk_run(port: int, body: bytes, duration: float, connections: int, workdir: Path) -> dict[str, float]:
    script = workdir / "post.lua"
    body_file = workdir / "body.json"
    body_file.write_bytes(body)
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"requests\\": %d, \\"errors\\": %d, \\"p50\\": %d, \\"p99\\": %d, '
        '\\"max\\": %d, \\"mean\\": %f}\\n", summary.requests, summary.errors.status + summary.errors.connect + '
        "summary.errors.read + summary.errors.write + summary.errors.timeout, latency:percentile(50), "
        "latency:percentile(99), latency.max, latency.mean))\nend\n")
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "-s", str(script),
           f"https://127.0.0.1:{port}/mutate"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    match = re.search(r"^JSON (.*)$", out, re.MULTILINE)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None or rps is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    data = json.loads(match.group(1))
    return {"requests": data["requests"], "errors": data["errors"], "rps": float(rps.group(1)),
            "p50_ms": data["p50"] / 1000, "p99_ms": data["p99"] / 1000, "max_ms": data["max"] / 1000,
            "mean_ms": round(data["mean"] / 1000, 2)}


def throughput(port: int, body: bytes, duration: float, workdir: Path, use_wrk: bool) -> dict[str, Any]:
    if use_wrk:
        return {"client": "wrk -t1 -c8", **wrk_run(port, body, duration, 8, workdir)}
    latencies, _, _ = run_clients(closed_client, (port, body, duration), 4)
    return {"client": "4 python processes", **summary(latencies, duration)}


def in_process_cost(bodies: dict[int, bytes], workdir: Path, rounds: int = 2000) -> dict[int, float]:
    """Microseconds per admission through the ASGI app, without network or TLS: the CPU floor per request."""
    import asyncio

    from webhook.app import StaticCatalog, create_app
    from webhook.manifests import read_catalog
    from webhook.policy import Policy

    app = create_app(catalog=StaticCatalog(read_catalog(str(workdir / "nads"))), policy=Policy())

    async def call(body: bytes) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "https", "path": "/mutate", "raw_path": b"/mutate", "query_string": b"",
                 "root_path": "", "headers": [(b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            return None

        await app(scope, receive, send)

    async def measure() -> dict[int, float]:
        out: dict[int, float] = {}
        for n, body in bodies.items():
            for _ in range(100):
                await call(body)
            started = time.perf_counter()
            for _ in range(rounds):
                await call(body)
            out[n] = round((time.perf_counter() - started) / rounds * 1e6, 1)
        return out

    return asyncio.run(measure())


BUCKET = re.compile(r'^netweave_admission_duration_seconds_bucket\{endpoint="mutate",le="([^"]+)"\} (\S+)$',
                    re.MULTILINE)


def server_buckets(port: int) -> list[tuple[float, float]]:
    conn = connect(port)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return [(float(le), float(count)) for le, count in BUCKET.findall(text)]


def server_quantiles(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> dict[str, str]:
    """Server-side p50/p99 (handler time, no TLS/HTTP) as histogram bucket upper bounds, e.g. '<= 2 ms'."""
    deltas = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = deltas[-1][1] if deltas else 0
    out: dict[str, str] = {}
    for name, q in (("server_p50", 0.5), ("server_p99", 0.99)):
        bound = next((le for le, count in deltas if total and count >= q * total), float("inf"))
        out[name] = f"<= {bound * 1000:g} ms"
    return out


def check_response(port: int, body: bytes, networks: int) -> None:
    conn = connect(port)
    response = json.loads(post(conn, body))["response"]
    conn.close()
    if not response.get("allowed") or "patch" not in response:
        raise RuntimeError(f"{networks} networks: expected an allowed, patched pod, got {response}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument("--rate", type=float, default=300.0, help="fixed rate for phase 1 (default 300/s)")
    parser.add_argument("--no-wrk", action="store_true", help="use Python clients even if wrk is installed")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 120:
        parser.error("--duration must be between 1 and 120 seconds")
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    results: dict[str, Any] = {"cpus": os.cpu_count(), "rate": args.rate, "duration_s": args.duration,
                               "load_average_before": os.getloadavg(), "fixed_rate_one_worker": {},
                               "throughput": {}}
    with tempfile.TemporaryDirectory(prefix="netweave-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "nads").mkdir()
        (workdir / "nads" / "bench.json").write_text(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": [nad(i) for i in range(16)]}))
        bodies = {n: review_body(n) for n in NETWORK_COUNTS}
        results["in_process_us_per_admission"] = in_process_cost(bodies, workdir)
        print(f"in-process cost (us/admission): {results['in_process_us_per_admission']}", flush=True)
        with server(workdir, workers=1) as port:
            for n in NETWORK_COUNTS:
                check_response(port, bodies[n], n)
                before = server_buckets(port)
                latencies, late, service = run_clients(paced_client, (port, bodies[n], args.rate / 2,
                                                                      args.duration), 2)
                sent = summary(service, args.duration)
                results["fixed_rate_one_worker"][n] = {
                    **summary(latencies, args.duration), "late_sends": late,
                    "from_send_p50_ms": sent["p50_ms"], "from_send_p99_ms": sent["p99_ms"],
                    **server_quantiles(before, server_buckets(port))}
                print(f"1 worker, {args.rate:.0f}/s, {n:2d} networks: {results['fixed_rate_one_worker'][n]}",
                      flush=True)
            for n in NETWORK_COUNTS:
                results["throughput"][f"1 worker/{n}"] = throughput(port, bodies[n], args.duration, workdir, use_wrk)
                print(f"1 worker max, {n:2d} networks: {results['throughput'][f'1 worker/{n}']}", flush=True)
        with server(workdir, workers=2) as port:
            for n in NETWORK_COUNTS:
                results["throughput"][f"2 workers/{n}"] = throughput(port, bodies[n], args.duration, workdir,
                                                                     use_wrk)
                print(f"2 workers max, {n:2d} networks: {results['throughput'][f'2 workers/{n}']}", flush=True)
    publish(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
