"""Gateway overhead: the same load straight to a local upstream and through the gateway.

Starts, as subprocesses on 127.0.0.1:

* the zero-latency fake upstream (``python -m lmux_plug.testing.fake_openai``),
* the lmux-plug gateway (``python -m lmux_plug.gateway.serve``) in front of it, with a
  virtual key so authentication is on the measured path,
* LiteLLM's proxy in front of it, if ``--litellm`` names a python that has it (a
  bench-only virtualenv); otherwise LiteLLM is reported as unavailable.

Then it runs ``--concurrency`` client tasks (aiohttp), each sending requests back to back,
against each target in turn, and a sequential run (one client) for the per-request cost
without queueing. Added latency is (target median - direct median) in the same run.

    python bench/bench_gateway.py [--concurrency 200] [--requests 20] [--sequential 300]
                                  [--litellm /tmp/bench-litellm-venv/bin/python] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import aiohttp

VIRTUAL_KEY = "vk-bench-client-key"
BODY = {
    "model": "openai/fake-model",
    "messages": [{"role": "user", "content": "hello there"}],
    "max_tokens": 16,
}


def _start(cmd, pattern, env=None, timeout=120.0, ready_url=None):
    """Start a subprocess; wait for an output line matching ``pattern`` (or ``ready_url`` to answer)."""
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    found = []
    seen = []

    def read():
        for line in process.stdout:  # keep draining so the child never blocks on a full pipe
            seen.append(line)
            match = re.search(pattern, line) if pattern else None
            if match and not found:
                found.append(match)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline and process.poll() is None:
        if ready_url and _answers(ready_url):
            found.append(None)
            break
        time.sleep(0.2 if ready_url else 0.05)
    if not found:
        process.kill()
        raise RuntimeError(f"{cmd[0]} did not start:\n{''.join(seen[-30:])}")
    return process, found[0]


def _answers(url):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers, even if not with 200
    except OSError:
        return False


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def _load(url, headers, concurrency, per_client, body):
    latencies = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    payload = json.dumps(body).encode()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client():
            nonlocal errors
            for _ in range(per_client):
                started = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        # Warm up the pools (one request per client) before measuring.
        warm = [
            asyncio.create_task(_one(session, url, headers, payload)) for _ in range(concurrency)
        ]
        await asyncio.gather(*warm)
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rps": len(latencies) / elapsed,
    }


async def _one(session, url, headers, payload):
    async with session.post(url, data=payload, headers=headers) as response:
        await response.read()


def _measure(name, url, headers, args, body=BODY):
    concurrent = asyncio.run(_load(url, headers, args.concurrency, args.requests, body))
    sequential = asyncio.run(_load(url, headers, 1, args.sequential, body))
    print(
        f"{name:10s} c={args.concurrency}: median {concurrent['median_ms']:7.2f} ms  p99 {concurrent['p99_ms']:7.2f} ms  "
        f"{concurrent['rps']:7.0f} req/s  errors {concurrent['errors']}   |  sequential: median "
        f"{sequential['median_ms']:6.3f} ms  p99 {sequential['p99_ms']:6.3f} ms",
        flush=True,
    )
    return {"concurrent": concurrent, "sequential": sequential}


def _litellm(args, upstream_url, tmp):
    python = args.litellm
    if not python or not Path(python).exists():
        return None, "unavailable: no LiteLLM virtualenv given (--litellm)"
    check = subprocess.run(
        [python, "-c", "import litellm.proxy.proxy_cli"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        return (
            None,
            f"unavailable: litellm proxy does not import ({check.stderr.strip().splitlines()[-1:]})",
        )
    config = Path(tmp) / "litellm.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            model_list:
              - model_name: openai/fake-model
                litellm_params:
                  model: openai/fake-model
                  api_base: {upstream_url}
                  api_key: sk-bench-not-a-real-key
            general_settings:
              master_key: sk-{VIRTUAL_KEY}
            litellm_settings:
              telemetry: false
            """
        )
    )
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    port = _free_port()
    cli = str(Path(python).parent / "litellm")
    process, _ = _start(
        [
            cli,
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        None,
        env=env,
        timeout=240,
        ready_url=f"http://127.0.0.1:{port}/health/liveliness",
    )
    return (process, f"http://127.0.0.1:{port}/v1/chat/completions"), None


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_flavour(python):
    """Which HTTP parser / loop uvicorn picks with this python: " (h11)" or " (httptools+uvloop)"."""
    code = "import importlib.util as u; print(bool(u.find_spec('httptools')), bool(u.find_spec('uvloop')))"
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=False
    ).stdout.split()
    parts = [
        name
        for name, present in zip(("httptools", "uvloop"), out, strict=False)
        if present == "True"
    ]
    return f" ({'+'.join(parts)})" if parts else " (h11)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument(
        "--sequential", type=int, default=300, help="requests of the sequential run"
    )
    parser.add_argument(
        "--litellm",
        default=os.environ.get("LITELLM_PYTHON"),
        help="python of a venv with litellm[proxy]",
    )
    parser.add_argument(
        "--gateway-python",
        action="append",
        default=[],
        help="also run the gateway with this python (e.g. a venv with uvicorn[standard])",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    upstream, match = _start(
        [sys.executable, "-m", "lmux_plug.testing.fake_openai", "--port", "0"], r"PORT (\d+)"
    )
    upstream_url = f"http://127.0.0.1:{match.group(1)}/v1"
    direct_url = upstream_url + "/chat/completions"
    processes = [upstream]
    results = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "lmux.toml"
            config.write_text(f'[gateway.providers.openai]\nbase_url = "{upstream_url}"\n')
            env = {
                **os.environ,
                "OPENAI_API_KEY": "sk-bench-not-a-real-key",
                "LMUX_PLUG_GATEWAY_KEYS": f"bench={VIRTUAL_KEY}",
            }
            auth = {"authorization": f"Bearer {VIRTUAL_KEY}", "content-type": "application/json"}
            direct_auth = {
                "authorization": "Bearer sk-bench-not-a-real-key",
                "content-type": "application/json",
            }
            results["direct"] = _measure("direct", direct_url, direct_auth, args)
            for python in [sys.executable, *args.gateway_python]:
                name = "lmux-plug" + _server_flavour(python)
                command = [
                    python,
                    "-m",
                    "lmux_plug.gateway.serve",
                    "--port",
                    "0",
                    "--config",
                    str(config),
                ]
                gateway, match = _start(
                    [*command, "--log-level", "warning"], r"http://127\.0\.0\.1:(\d+)/v1", env=env
                )
                try:
                    url = f"http://127.0.0.1:{match.group(1)}/v1/chat/completions"
                    results[name] = _measure(name, url, auth, args)
                finally:
                    _stop(gateway)
            try:
                started, reason = _litellm(args, upstream_url, tmp)
            except RuntimeError as exc:
                started, reason = None, f"unavailable: proxy did not start ({str(exc)[-300:]})"
            if started is None:
                print(f"litellm    {reason}")
                results["litellm"] = reason
            else:
                process, url = started
                processes.append(process)
                litellm_auth = {
                    "authorization": f"Bearer sk-{VIRTUAL_KEY}",
                    "content-type": "application/json",
                }
                results["litellm"] = _measure("litellm", url, litellm_auth, args)
            # The direct run again, to see how much the machine drifted during the run.
            results["direct_again"] = _measure("direct", direct_url, direct_auth, args)
    finally:
        for process in processes:
            _stop(process)

    base = min(
        results["direct"]["sequential"]["median_ms"],
        results["direct_again"]["sequential"]["median_ms"],
    )
    base_c = min(
        results["direct"]["concurrent"]["median_ms"],
        results["direct_again"]["concurrent"]["median_ms"],
    )
    print()
    for name in [k for k in results if k.startswith(("lmux-plug", "litellm"))]:
        entry = results[name]
        if not isinstance(entry, dict):
            continue
        seq, conc = entry["sequential"], entry["concurrent"]
        print(
            f"{name}: added median {seq['median_ms'] - base:.3f} ms sequential "
            f"({seq['median_ms'] / base:.2f}x direct); at c={args.concurrency}: added median "
            f"{conc['median_ms'] - base_c:.1f} ms ({conc['median_ms'] / base_c:.2f}x), "
            f"p99 {conc['p99_ms']:.1f} ms, {conc['rps']:.0f} req/s"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
