"""The API under load: an area-view read at 50 concurrent clients, side by side in the same run with a bare
FastAPI endpoint that only verifies a JWT.

A demo hub (``--households``, real provinces, all four sources, linked and published) is served by
``hub serve`` in its own process (one uvicorn worker); the bare endpoint, the same framework, server and
token check and nothing else, in another. Each is driven in turn by ``--clients`` concurrent HTTP/1.1
keep-alive connections of ``wrk`` (Debian package ``wrk``: a load generator in C, so the measurement is
the servers', not a Python client's) for ``--seconds``: the hub's clients read a policy unit's view, one
tambon at a time (``GET /api/v1/views/policy_all_levels/rows?area=TAMBON``: the tambon and its villages,
read through consent-built versions and logged in the audit log). Reported: p50 and p99 latency,
throughput and the server's CPU time per request of each, and the hub's throughput as a share of the bare
endpoint's, in each of ``--rounds`` rounds (the two measured in turn, each after a warm-up) and their
median.

    python bench/api.py [--households 2000] [--clients 50] [--seconds 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BARE_APP = textwrap.dedent('''
    import gc

    import jwt
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
    from hub.context import Hub
    from hub.tokens import AUDIENCE, ISSUER

    key = Hub.open().keyring.signing_key("tokens").public_key()
    app = FastAPI()
    bearer = HTTPBearer()

    def caller(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> dict:
        try:
            return jwt.decode(credentials.credentials, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER,
                              options={"require": ["exp", "iat", "aud", "iss", "sub"]})
        except jwt.InvalidTokenError:
            raise HTTPException(401) from None

    @app.get("/bare")
    def bare(claims: dict = Depends(caller)) -> dict:
        return {"sub": claims["sub"]}

    gc.collect()
    gc.freeze()  # as `hub serve` does
''')


WARM_UP = 3.0  # seconds of load before each measurement


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server on port {port} did not start")


WRK_SCRIPT = """
paths = {%(paths)s}
n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1], {["Authorization"] = "Bearer %(token)s"})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, server: subprocess.Popen, paths: list[str], token: str, clients: int, seconds: float,
         work: Path) -> tuple[float, ...]:
    """wrk (C, epoll) with ``clients`` keep-alive connections for ``seconds``, cycling ``paths``, after a
    :data:`WARM_UP` of the same load that is not measured (a server's first requests fill its caches and
    pools): requests per second, p50 and p99 latency (s), and the ``server`` process's CPU time per request
    (s; steadier than rates on a shared machine). Any non-2xx answer or socket error stops the benchmark."""
    script = work / "paths.lua"
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(f'"{p}"' for p in paths), "token": token})
    for duration in (WARM_UP, seconds):
        used = cpu_seconds(server.pid)
        out = subprocess.run(["wrk", "-t", "1", "-c", str(clients), "-d", f"{duration:g}s", "--timeout", "30s",
                              "-s", str(script), url],
                             capture_output=True, text=True, check=True).stdout
        used = cpu_seconds(server.pid) - used
        requests, micros, p50, p99, errors = (int(v) for v in out.split("RESULT ")[1].split())
        if errors:
            raise SystemExit(f"{url}: {errors} requests failed (non-2xx or socket errors)")
    return requests / (micros / 1e6), p50 / 1e6, p99 / 1e6, used / requests


def report(name: str, result: tuple[float, ...]) -> tuple[float, float]:
    rate, p50, p99, cpu = result
    print(f"{name:<38} {rate:>6,.0f} req/s   p50 {p50 * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms   "
          f"server CPU {cpu * 1000:5.2f} ms/request", flush=True)
    return rate, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each, in turn")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="saphan-bench-api-"))
    env = {**os.environ, "HUB_HOME": str(home), "PYTHONPATH": str(ROOT)}
    os.environ.update(HUB_HOME=str(home))

    from rich.console import Console

    from hub.context import Hub
    from hub.demo.run import run_demo
    from hub.tokens import issue
    from hub.views.read import read_view

    run_demo(out=home / "partner-files", households=args.households, seed=2566, console=Console(file=io.StringIO()),
             actor="bench")
    hub = Hub.open()
    token = issue(hub, role="policy", subject="bench", actor="bench")
    tambons = [c["area"] for c in read_view(hub, "policy_all_levels", area=None, whole=True, actor="bench").cells
               if c["level"] == "tambon"]
    paths = [f"/api/v1/views/policy_all_levels/rows?area={t}" for t in tambons]
    print(f"{args.households:,} households, {len(tambons)} tambons; {args.clients} clients, {args.seconds:g} s each; "
          f"{os.cpu_count()} cores", flush=True)

    (home / "bare_app.py").write_text(BARE_APP)
    hub_port, bare_port = free_port(), free_port()
    python = sys.executable
    servers = [
        start([str(Path(python).parent / "hub"), "serve", "--port", str(hub_port)], env, hub_port),
        start([python, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port), "--log-level", "warning",
               "--app-dir", str(home)], env, bare_port),
    ]
    try:
        shares = []
        for _ in range(args.rounds):  # in turn, so that both see the machine as it is in each round
            hub_rate, hub_cpu = report("hub: area-view read (audited)", load(
                f"http://127.0.0.1:{hub_port}", servers[0], paths, token, args.clients, args.seconds, home))
            bare_rate, bare_cpu = report("bare FastAPI: verify the JWT, return", load(
                f"http://127.0.0.1:{bare_port}", servers[1], ["/bare"], token, args.clients, args.seconds, home))
            shares.append(hub_rate / bare_rate)
            print(f"hub throughput: {shares[-1]:.0%} of the bare endpoint's; CPU per request "
                  f"{hub_cpu / bare_cpu:.1f}x the bare endpoint's", flush=True)
        print(f"median of {args.rounds} rounds: {statistics.median(shares):.0%}")
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
