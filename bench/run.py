#!/usr/bin/env python3
"""Load harness: our session layer against bare axum and tower-sessions.

Builds `session-bench` in release, starts its own redis-server on loopback,
pins the server and the load generator (wrk) to different CPUs, runs every
mode x scenario over several repetitions (modes alternate within each
repetition), measures memory per session and Redis commands per request, and
prints one table. Every process it starts is stopped by its process id.

    python3 bench/run.py            # full run, under 10 minutes
    python3 bench/run.py --quick    # quick run, under 2 minutes

See bench/README.md for the columns and options.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import http.client
from dataclasses import dataclass, field

MODES = ["bare", "bare-spin", "ours-memory", "ours-redis", "ours-redis-cached", "ours-cookie", "ours-file",
         "ts-memory", "ts-redis"]
# Run only when named with --modes: not part of the issue's comparison.
OPT_IN_MODES = {"ours-file"}
SCENARIOS = ["read", "write", "write-new"]
BARE_MODES = {"bare", "bare-spin"}
# Below this (µs above bare), a ratio of +CPU figures divides by noise.
MIN_RATIO_BASE_US = 1.0
REDIS_MODES = {"ours-redis", "ours-redis-cached", "ts-redis"}
# The tower-sessions mode with the same store, for the "÷ ts" columns.
TS_PEER = {"ours-memory": "ts-memory", "ours-redis": "ts-redis", "ours-redis-cached": "ts-redis"}
MEMORY_MODES = ["ours-memory", "ts-memory"]
REDIS_MEMORY_MODES = ["ours-redis", "ours-redis-cached", "ts-redis"]
# Not counted per request: what the harness itself sends to Redis, and the
# servers' connection checks (PING).
HARNESS_COMMANDS = {"info", "flushall", "monitor", "ping"}

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WORKSPACE = os.path.dirname(BENCH_DIR)
CLK_TCK = os.sysconf("SC_CLK_TCK")

STARTED: list[subprocess.Popen] = []


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Processes: every one started here is recorded and stopped by its pid.


def start(cmd: list[str], **kwargs) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, **kwargs)
    STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    if proc in STARTED:
        STARTED.remove(proc)
    # A server's own data directory (`ours-file`), removed once it stopped.
    data_dir = getattr(proc, "data_dir", None)
    if data_dir:
        shutil.rmtree(data_dir, ignore_errors=True)


def stop_all() -> None:
    for proc in list(STARTED):
        stop(proc)


def on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


# --------------------------------------------------------------------------
# Small clients: ports, HTTP, Redis (RESP), /proc.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class Http:
    """One keep-alive connection to the bench server."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def get(self, path: str, cookie: str | None = None) -> tuple[str, str | None]:
        headers = {"Cookie": cookie} if cookie else {}
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body!r}")
        set_cookie = None
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("id="):
                set_cookie = value.split(";", 1)[0]
        return body, set_cookie

    def new_sessions(self) -> int:
        body, _ = self.get("/stats")
        return int(body.strip().split("=", 1)[1])

    def close(self) -> None:
        self.conn.close()


class Redis:
    """A minimal RESP client for the harness's own commands."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis error: {rest.decode()}")
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected redis reply {line!r}")

    def send(self, *args: str) -> None:
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a.encode()
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        self.sock.sendall(b"".join(out))

    def cmd(self, *args: str):
        self.send(*args)
        return self.reply()

    def commandstats(self) -> dict[str, int]:
        stats = {}
        for line in self.cmd("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[len("cmdstat_"):].split(":", 1)
                calls = int(rest.split("calls=", 1)[1].split(",", 1)[0])
                stats[name] = calls
        return stats

    def used_memory(self) -> int:
        for line in self.cmd("INFO", "memory").splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":", 1)[1])
        raise RuntimeError("no used_memory in INFO memory")

    def close(self) -> None:
        self.sock.close()


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of the man page (utime, stime); the list starts at field 3.
    return int(fields[11]) + int(fields[12])


def cpu_ns(pid: int) -> int:
    """CPU time of every live thread of `pid`, in nanoseconds (schedstat: exact,
    unlike the tick-sampled utime and stime of /proc/PID/stat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def system_busy_seconds() -> float:
    """CPU time every CPU spent busy (not idle, not waiting on I/O), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_seconds() -> float:
    """CPU time of every child process waited for so far (wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def proc_status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


# --------------------------------------------------------------------------
# wrk.

WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"mean":%.2f,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""

# With BENCH_COOKIES naming a file of cookies, one per line, each request
# carries the next one, so the requests spread over those sessions. The
# requests are formatted once; wrk then only hands them out.
WRK_SPREAD = r"""
local cookie_file = os.getenv("BENCH_COOKIES")
if cookie_file then
  local prepared, last = nil, 0
  function request()
    if not prepared then
      prepared = {}
      for line in io.lines(cookie_file) do
        local headers = {}
        for name, value in pairs(wrk.headers) do headers[name] = value end
        headers["Cookie"] = line
        prepared[#prepared + 1] = wrk.format(nil, nil, headers)
      end
    end
    last = last % #prepared + 1
    return prepared[last]
  end
end
""" + WRK_REPORT

# Waits between requests on each connection: a fixed offered load.
WRK_PACED = r"""
local pause = 4
function init(args)
  pause = tonumber(args[1]) or pause
end
function delay()
  return pause
end
""" + WRK_SPREAD

# Stops after N responses (for creating a known number of sessions).
WRK_COUNT = r"""
local limit = 100000
local seen = 0
function init(args)
  limit = tonumber(args[1]) or limit
end
function response(status, headers, body)
  seen = seen + 1
  if seen >= limit then
    wrk.thread:stop()
  end
end
""" + WRK_REPORT


@dataclass
class Setup:
    server_cpu: str | None
    load_cpu: str | None
    threads: int
    connections: int
    scripts: dict = field(default_factory=dict)
    # Where cookie files for wrk go.
    workdir: str = ""


def taskset(cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu] if cpu is not None and shutil.which("taskset") else []


def wrk(setup: Setup, port: int, path: str, seconds: float, cookies: list[str] | None,
        script: str = "report", args: list[str] | None = None) -> dict:
    """One wrk run; with several `cookies`, each request carries the next."""
    cmd = taskset(setup.load_cpu) + [
        "wrk", "-t", str(setup.threads), "-c", str(setup.connections),
        "-d", f"{max(1, round(seconds))}s", "--timeout", "5s",
        "-s", setup.scripts[script],
    ]
    environment = {k: v for k, v in os.environ.items() if k != "BENCH_COOKIES"}
    if cookies and len(cookies) == 1:
        cmd += ["-H", f"Cookie: {cookies[0]}"]
    elif cookies:
        cookie_file = os.path.join(setup.workdir, f"cookies-{port}.txt")
        with open(cookie_file, "w") as f:
            f.write("\n".join(cookies) + "\n")
        environment["BENCH_COOKIES"] = cookie_file
    cmd.append(f"http://127.0.0.1:{port}{path}")
    if args:
        cmd += ["--"] + args
    proc = start(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    finally:
        stop(proc)
    for line in out.splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line[len("BENCHJSON "):])
    raise RuntimeError(f"wrk gave no report: {out}\n{err}")


# --------------------------------------------------------------------------
# One measured run.


@dataclass
class Env:
    binary: str
    setup: Setup
    redis_port: int
    redis: Redis
    redis_pid: int
    duration: float
    warmup: float
    logdir: str
    paced: float
    paced_delay_ms: int
    spin_ns: int
    live_sessions: int = 1
    allocator: str = "system"
    perf_dir: str | None = None


def start_server(env: Env, mode: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    environment = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{env.redis_port}",
                       BENCH_SPIN_NS=str(env.spin_ns))
    # Every start of `ours-file` gets an empty store, on the disk of the
    # harness's work directory.
    data_dir = tempfile.mkdtemp(prefix=f"{mode}-data-", dir=env.logdir) if mode == "ours-file" else None
    if data_dir:
        environment["BENCH_FILE_DIR"] = data_dir
    logpath = os.path.join(env.logdir, f"{mode}.log")
    logfile = open(logpath, "a")
    proc = start(taskset(env.setup.server_cpu) + [env.binary, mode, str(port)],
                 stdout=logfile, stderr=subprocess.STDOUT, env=environment)
    proc.data_dir = data_dir
    logfile.close()
    wait_port(port, proc)
    check_allocator(logpath, port, env.allocator)
    return proc, port


def check_allocator(logpath: str, port: int, allocator: str) -> None:
    """The server names its allocator when it starts listening: a binary
    built for the other one is refused."""
    expected = f"listening on 127.0.0.1:{port} (allocator: {allocator})"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(logpath) as f:
            lines = [line for line in f if f"listening on 127.0.0.1:{port} " in line]
        if lines:
            if expected not in lines[-1]:
                raise RuntimeError(f"{lines[-1].strip()}: not the allocator asked for ({allocator}); "
                                   "run without --no-build")
            return
        time.sleep(0.05)
    raise RuntimeError(f"the server on port {port} did not say which allocator it runs on")


def existing_sessions(client: Http, mode: str, count: int) -> list[str]:
    """`count` sessions past their first use: each created by a write, then
    used once more (which moves an anonymous session to its full lifetime),
    so the measured requests see settled sessions. Returns their latest
    cookies. `bare` has no session: it gets as many cookies of the same size,
    which it ignores."""
    if mode in BARE_MODES:
        return ["id=" + "x" * 65] * count
    cookies = []
    for _ in range(count):
        _, cookie = client.get("/write")
        if not cookie:
            raise RuntimeError("/write without a cookie set no session cookie")
        cookies.append(cookie)
    time.sleep(0.005)
    for path in ("/read", "/write", "/read"):
        for i, cookie in enumerate(cookies):
            _, again = client.get(path, cookie)
            cookies[i] = again or cookie
    return cookies


def redis_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta = {}
    for name, calls in after.items():
        if name in HARNESS_COMMANDS:
            continue
        d = calls - before.get(name, 0)
        if d:
            delta[name] = d
    return delta


def monitor_round_trips(env: Env, port: int, path: str, cookies: list[str] | None, n: int = 50) -> dict:
    """Sends n sequential requests with MONITOR on and splits the commands
    Redis saw into those sent by the client (round trips) and those run inside
    scripts."""
    mon = Redis(env.redis_port)
    mon.send("MONITOR")
    assert mon.reply() == "OK"
    lines: list[str] = []
    stop_flag = threading.Event()

    def reader():
        mon.sock.settimeout(0.2)
        while not stop_flag.is_set():
            try:
                lines.append(mon.reply())
            except (socket.timeout, TimeoutError):
                continue
            except (ConnectionError, OSError):
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    client = Http(port)
    for i in range(n):
        client.get(path, cookies[i % len(cookies)] if cookies else None)
    client.close()
    time.sleep(0.3)
    stop_flag.set()
    thread.join()
    mon.close()
    client_cmds = [line for line in lines if "[0 lua]" not in line]
    script_cmds = [line for line in lines if "[0 lua]" in line]
    names: dict[str, int] = {}
    for line in client_cmds:
        try:
            name = line.split('"', 2)[1].lower()
        except IndexError:
            continue
        names[name] = names.get(name, 0) + 1
    return {
        "round_trips": len(client_cmds) / n,
        "in_scripts": len(script_cmds) / n,
        "client_commands": {k: v / n for k, v in sorted(names.items())},
    }


def start_perf(env: Env, pid: int, name: str) -> subprocess.Popen | None:
    """With --perf: samples the server (CPU clock, DWARF call graphs) during
    the measured run. perf runs on the load CPU; the run's numbers are then
    not comparable with unprofiled runs."""
    if not env.perf_dir:
        return None
    out = os.path.join(env.perf_dir, f"{name}.data")
    proc = start(taskset(env.setup.load_cpu) + [
        "perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
        "-p", str(pid), "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


def measure(env: Env, proc: subprocess.Popen, port: int, client: Http, mode: str, scenario: str,
            path: str, cookies: list[str] | None, seconds: float, script: str, args: list[str] | None,
            profile: bool) -> dict:
    """One wrk run with the server's CPU time, new sessions and Redis
    commands counted around it."""
    new_before = client.new_sessions()
    cmds_before = env.redis.commandstats()
    profiler = start_perf(env, proc.pid, f"{mode}-{scenario}") if profile else None
    busy_before, wrk_before, redis_before = system_busy_seconds(), children_seconds(), cpu_ticks(env.redis_pid)
    ticks_before, ns_before = cpu_ticks(proc.pid), cpu_ns(proc.pid)
    wall_before = time.monotonic()
    result = wrk(env.setup, port, path, seconds, cookies, script=script, args=args)
    wall = time.monotonic() - wall_before
    ticks_after, ns_after = cpu_ticks(proc.pid), cpu_ns(proc.pid)
    busy = system_busy_seconds() - busy_before
    redis_ticks = cpu_ticks(env.redis_pid) - redis_before
    ours = ((ns_after - ns_before) / 1e9 + children_seconds() - wrk_before
            + redis_ticks / CLK_TCK)
    if profiler:
        os.kill(profiler.pid, signal.SIGINT)
        profiler.wait(timeout=120)
        stop(profiler)
    cmds_after = env.redis.commandstats()
    new_after = client.new_sessions()
    requests = result["requests"]
    if requests == 0:
        raise RuntimeError(f"{mode} {scenario}: wrk completed no request")
    result.update(
        rps=requests / (result["duration_us"] / 1e6),
        cpu_us=(ns_after - ns_before) / 1e3 / requests,
        cpu_us_stat=(ticks_after - ticks_before) / CLK_TCK * 1e6 / requests,
        new_sessions=new_after - new_before,
        # CPUs' worth of work on the machine that was not the server, wrk or redis-server.
        other_cpu=max(0.0, (busy - ours) / wall),
        errors=result["connect"] + result["read"] + result["write"] + result["status"] + result["timeout"],
    )
    if mode in REDIS_MODES:
        delta = redis_delta(cmds_before, cmds_after)
        result["redis_cmds"] = sum(delta.values()) / requests
        result["redis_cpu_us"] = redis_ticks / CLK_TCK * 1e6 / requests
        result["redis_by_command"] = {k: v / requests for k, v in sorted(delta.items())}
    return result


def run_once(env: Env, mode: str, scenario: str, with_monitor: bool) -> dict:
    """Saturated run (closed loop: every connection sends its next request as
    soon as the answer arrives), then a paced run (every connection waits
    `paced_delay_ms` between requests, the same offered load for every mode,
    well below saturation), in one server process."""
    if mode in REDIS_MODES:
        env.redis.cmd("FLUSHALL")
    proc, port = start_server(env, mode)
    try:
        client = Http(port)
        cookies = None if scenario == "write-new" else existing_sessions(client, mode, env.live_sessions)
        path = "/read" if scenario == "read" else "/write"
        if env.warmup > 0:
            wrk(env.setup, port, path, env.warmup, cookies)
        result = measure(env, proc, port, client, mode, scenario, path, cookies, env.duration,
                         "report", None, profile=True)
        result.update(mode=mode, scenario=scenario)
        if env.paced > 0:
            result["paced"] = measure(env, proc, port, client, mode, scenario, path, cookies, env.paced,
                                      "paced", [str(env.paced_delay_ms)], profile=False)
        if mode in REDIS_MODES and with_monitor:
            result["monitor"] = monitor_round_trips(env, port, path, cookies)
        client.close()
        return result
    finally:
        stop(proc)


# --------------------------------------------------------------------------
# Memory per session.


def create_sessions(env: Env, port: int, sessions: int, client: Http, new_before: int) -> None:
    """Runs wrk on `/write` without a cookie until the server counted
    `sessions` new sessions. wrk's thread stops sending after that many
    responses; wrk itself would sleep out its duration, so it is stopped here."""
    setup = env.setup
    cmd = taskset(setup.load_cpu) + [
        "wrk", "-t", "1", "-c", str(setup.connections), "-d", "120s", "--timeout", "5s",
        "-s", setup.scripts["count"], f"http://127.0.0.1:{port}/write", "--", str(sessions),
    ]
    proc = start(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        last = -1
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            created = client.new_sessions() - new_before
            if created >= sessions and created == last:
                break
            last = created
    finally:
        stop(proc)


def memory_per_session(env: Env, mode: str, sessions: int) -> dict:
    if mode in REDIS_MODES:
        env.redis.cmd("FLUSHALL")
    proc, port = start_server(env, mode)
    try:
        client = Http(port)
        cookies = existing_sessions(client, mode, 1)
        # Warm the server with every connection open (buffers, runtime), creating nothing.
        wrk(env.setup, port, "/read", 1, cookies)
        new_before = client.new_sessions()
        hwm_before = proc_status_kib(proc.pid, "VmHWM")
        rss_before = proc_status_kib(proc.pid, "VmRSS")
        redis_before = env.redis.used_memory() if mode in REDIS_MODES else 0
        create_sessions(env, port, sessions, client, new_before)
        created = client.new_sessions() - new_before
        hwm_after = proc_status_kib(proc.pid, "VmHWM")
        rss_after = proc_status_kib(proc.pid, "VmRSS")
        redis_after = env.redis.used_memory() if mode in REDIS_MODES else 0
        client.close()
        out = {
            "mode": mode,
            "sessions": created,
            "peak_rss_bytes_per_session": (hwm_after - hwm_before) * 1024 / created,
            "rss_bytes_per_session": (rss_after - rss_before) * 1024 / created,
        }
        if mode in REDIS_MODES:
            out["redis_bytes_per_session"] = (redis_after - redis_before) / created
        return out
    finally:
        stop(proc)


# --------------------------------------------------------------------------
# Report.


def median(values):
    return statistics.median(values) if values else float("nan")


NOISY = 0.15


def noise(r: dict) -> float:
    """The most other work (in CPUs) seen in a run's saturated or paced part."""
    return max(r["other_cpu"], r.get("paced", {}).get("other_cpu", 0.0))


def summarize(parts: list[dict]) -> dict:
    """Medians and totals of the saturated (or the paced) parts of repetitions."""
    cpu = [p["cpu_us"] for p in parts]
    return {
        "rps": median([p["rps"] for p in parts]),
        "p50": median([p["p50"] for p in parts]),
        "p99": median([p["p99"] for p in parts]),
        "cpu_us": median(cpu),
        "cpu_spread": (max(cpu) - min(cpu)) / 2,
        "requests": sum(p["requests"] for p in parts),
        "new_sessions": sum(p["new_sessions"] for p in parts),
    }


def aggregate(runs: list[dict]) -> dict:
    """Medians over repetitions, per mode and scenario. CPU above bare is the
    median of per-repetition differences (each mode against the bare run of
    the same repetition), so slow drifts in machine noise cancel."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        by_key.setdefault((r["mode"], r["scenario"]), []).append(r)
    bare_runs = {(r["scenario"], r["rep"]): r for r in runs if r["mode"] == "bare"}
    agg = {}
    for key, rs in by_key.items():
        plus, pplus = [], []
        for r in rs:
            b = bare_runs.get((r["scenario"], r["rep"]))
            if b:
                plus.append(r["cpu_us"] - b["cpu_us"])
                if "paced" in r and "paced" in b:
                    pplus.append(r["paced"]["cpu_us"] - b["paced"]["cpu_us"])
        a = {
            "reps": len(rs),
            **summarize(rs),
            "cpu_us_stat": median([r["cpu_us_stat"] for r in rs]),
            "plus": median(plus) if plus else None,
            "paced_plus": median(pplus) if pplus else None,
            "other_cpu": max(noise(r) for r in rs),
            "errors": sum(r["errors"] + r.get("paced", {}).get("errors", 0) for r in rs),
        }
        paced = [r["paced"] for r in rs if "paced" in r]
        if paced:
            a["paced"] = summarize(paced)
        if "redis_cmds" in rs[0]:
            a["redis_cmds"] = median([r["redis_cmds"] for r in rs])
            a["redis_cpu_us"] = median([r["redis_cpu_us"] for r in rs])
            by_cmd: dict[str, list[float]] = {}
            for r in rs:
                for k, v in r["redis_by_command"].items():
                    by_cmd.setdefault(k, []).append(v)
            a["redis_by_command"] = {k: median(v) for k, v in sorted(by_cmd.items())}
        monitors = [r["monitor"] for r in rs if "monitor" in r]
        if monitors:
            a["monitor"] = monitors[0]
        agg[key] = a
    return agg


def fmt(v, spec=".1f", none="—"):
    return none if v is None else format(v, spec)


def ratio(a, b, spec=".2f"):
    return fmt(a / b if a is not None and b else None, spec)


def table(agg: dict) -> str:
    head = ("| mode | scenario | req/s | p50 µs | p99 µs | CPU µs/req | +CPU vs bare "
            "| paced: CPU µs/req | paced: +CPU vs bare | paced: p50 / p99 µs "
            "| req/s ÷ bare | req/s ÷ ts | paced +CPU ÷ ts | p99 ÷ bare | paced p99 ÷ bare "
            "| Redis cmds/req (round trips) |")
    lines = [head, "|" + " --- |" * 16]

    def spread(part, reps):
        return f' ±{part["cpu_spread"]:.1f}' if reps > 1 else ""

    for scenario in SCENARIOS:
        for mode in MODES:
            a = agg.get((mode, scenario))
            if not a:
                continue
            bare = agg.get(("bare", scenario))
            peer = agg.get((TS_PEER.get(mode, ""), scenario))

            plus = a["plus"]
            p, bp = a.get("paced"), (bare or {}).get("paced")
            pplus = a["paced_plus"]
            peer_pplus = peer["paced_plus"] if peer else None
            paced_latency = f'{p["p50"]:.0f} / {p["p99"]:.0f}' if p else "—"
            redis = "—"
            if "redis_cmds" in a:
                rt = a.get("monitor", {}).get("round_trips")
                redis = f'{a["redis_cmds"]:.2f} ({fmt(rt, ".2f", "?")})'
            lines.append(
                f'| {mode} | {scenario} | {a["rps"]:,.0f} | {a["p50"]:.0f} | {a["p99"]:.0f} '
                f'| {a["cpu_us"]:.1f}{spread(a, a["reps"])} | {fmt(plus, "+.1f") if mode != "bare" else "0"} '
                f'| {(fmt(p["cpu_us"]) + spread(p, a["reps"])) if p else "—"} '
                f'| {fmt(pplus, "+.1f") if mode != "bare" else "0"} '
                f'| {paced_latency} '
                f'| {ratio(a["rps"], bare["rps"] if bare else None)} '
                f'| {ratio(a["rps"], peer["rps"] if peer else None)} '
                f'| {ratio(pplus, peer_pplus) if peer_pplus and peer_pplus >= MIN_RATIO_BASE_US else "—"} '
                f'| {ratio(a["p99"], bare["p99"] if bare else None)} '
                f'| {ratio(p["p99"] if p else None, bp["p99"] if bp else None)} '
                f'| {redis} |'
            )
    return "\n".join(lines)


def calibration(agg: dict, spin_ns: int) -> str | None:
    """How the +CPU column reads a known amount of added work: `bare-spin` is
    `bare` with a busy wait of `spin_ns` per request."""
    read = [f"{fmt(a['plus'], '+.1f')} µs ({scenario})" for scenario in SCENARIOS
            if (a := agg.get(("bare-spin", scenario)))]
    if not read:
        return None
    return (f"Calibration: `bare-spin` is `bare` plus a busy wait of {spin_ns / 1000:.1f} µs per request; "
            f"the +CPU column reads it as {', '.join(read)}.")


def redis_detail(agg: dict) -> str:
    lines = []
    for scenario in SCENARIOS:
        for mode in MODES:
            a = agg.get((mode, scenario))
            if not a or "redis_cmds" not in a:
                continue
            by = ", ".join(f"{k} {v:.2f}" for k, v in a["redis_by_command"].items())
            mon = a.get("monitor")
            sent = ", ".join(f"{k} {v:.2f}" for k, v in mon["client_commands"].items()) if mon else "?"
            lines.append(f"- {mode} {scenario}: {a['redis_cmds']:.2f} commands/request ({by}); "
                         f"sent by the server: {sent}; redis-server CPU {a['redis_cpu_us']:.1f} µs/request")
    return "\n".join(lines)


def targets(agg: dict, memory: dict) -> str:
    """The issue's targets, judged on this run. CPU above bare is judged on
    the saturated runs; the paced figure is shown beside it."""
    def g(mode, scenario):
        return agg.get((mode, scenario))

    def plus(mode, scenario, paced=False):
        a = g(mode, scenario)
        if not a:
            return None
        return a["paced_plus"] if paced else a["plus"]

    def both(mode, scenario):
        return f'{fmt(plus(mode, scenario), "+.1f")} µs (paced {fmt(plus(mode, scenario, True), "+.1f")})'

    def trips(mode, scenario):
        a = g(mode, scenario)
        return a.get("monitor", {}).get("round_trips") if a else None

    def p99x(mode, paced=False):
        a, b = g(mode, "write-new"), g("bare", "write-new")
        if not a or not b:
            return None
        if paced:
            return a["paced"]["p99"] / b["paced"]["p99"] if "paced" in a and "paced" in b else None
        return a["p99"] / b["p99"]

    rows = []

    def row(name, ts_value, ours_value, target, met):
        verdict = "?" if met is None else ("met" if met else "MISSED")
        rows.append(f"| {name} | {ts_value} | {ours_value} | {target} | {verdict} |")

    p = plus("ours-memory", "read")
    row("memory read (CPU above bare)", both("ts-memory", "read"), both("ours-memory", "read"),
        "≤ +1.0 µs, signed tokens verified", None if p is None else p <= 1.0)
    p = plus("ours-memory", "write")
    row("memory write (CPU above bare)", both("ts-memory", "write"), both("ours-memory", "write"),
        "≤ +2.0 µs", None if p is None else p <= 2.0)
    x, xp = p99x("ours-memory"), p99x("ours-memory", True)
    row("memory write-new p99",
        f'{fmt(p99x("ts-memory"), ".2f")}x bare (paced {fmt(p99x("ts-memory", True), ".2f")}x)',
        f'{fmt(x, ".2f")}x bare (paced {fmt(xp, ".2f")}x)',
        "≤ 2x bare's p99", None if x is None else (x <= 2.0 and (xp is None or xp <= 2.0)))
    for mode, label in (("ours-redis", ""), ("ours-redis-cached", ", local cache")):
        t, p = trips(mode, "read"), plus(mode, "read")
        row(f"Redis read{label}",
            f'{fmt(trips("ts-redis", "read"), ".0f")} round trip, {both("ts-redis", "read")}',
            f"{fmt(t, '.0f')} round trip(s), {both(mode, 'read')}", "1 round trip, ≤ +10 µs",
            None if t is None or p is None else (round(t) <= 1 and p <= 10))
        a, b = g(mode, "write"), g("ts-redis", "write")
        t = trips(mode, "write")
        r = a["rps"] / b["rps"] if a and b else None
        row(f"Redis write{label}",
            f'{fmt(trips("ts-redis", "write"), ".0f")} round trips, {fmt(b["rps"] if b else None, ",.0f")} req/s',
            f"{fmt(t, '.0f')} round trip(s), {fmt(a['rps'] if a else None, ',.0f')} req/s ({fmt(r, '.2f')}x ts)",
            "1 round trip, ≥ 1.5x ts req/s",
            None if t is None or r is None else (round(t) == 1 and r >= 1.5))
    ours_mem = memory.get("ours-memory", {}).get("peak_rss_bytes_per_session")
    ts_mem = memory.get("ts-memory", {}).get("peak_rss_bytes_per_session")
    row("memory per session (peak RSS)", f"{fmt(ts_mem, '.0f')} B", f"{fmt(ours_mem, '.0f')} B", "≤ 300 B",
        None if ours_mem is None else ours_mem <= 300)
    head = "| target | tower-sessions (this run) | ours (this run) | target | verdict |\n|" + " --- |" * 5
    return head + "\n" + "\n".join(rows)


def memory_table(memory: dict) -> str:
    lines = ["| mode | sessions created | peak RSS B/session | RSS B/session | Redis used_memory B/session |",
             "|" + " --- |" * 5]
    for mode in MEMORY_MODES + REDIS_MEMORY_MODES:
        m = memory.get(mode)
        if not m:
            continue
        lines.append(f'| {mode} | {m["sessions"]:,} | {m["peak_rss_bytes_per_session"]:.0f} '
                     f'| {m["rss_bytes_per_session"]:.0f} | {fmt(m.get("redis_bytes_per_session"), ".0f")} |')
    return "\n".join(lines)


def sanity(agg: dict) -> list[str]:
    warnings = []
    for (mode, scenario), a in sorted(agg.items()):
        if a["errors"]:
            warnings.append(f"{mode} {scenario}: {a['errors']} socket errors or non-2xx responses")
        for label, part in (("saturated", a), ("paced", a.get("paced"))):
            if not part:
                continue
            if scenario == "write-new":
                if part["new_sessions"] < 0.99 * part["requests"]:
                    warnings.append(f"{mode} write-new ({label}): only {part['new_sessions']} of "
                                    f"{part['requests']} requests created a session")
            elif mode not in BARE_MODES and part["new_sessions"] > 0:
                warnings.append(f"{mode} {scenario} ({label}): {part['new_sessions']} requests found no session")
    return warnings


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --------------------------------------------------------------------------


def build(target_dir: str, profile: str, allocator: str) -> str:
    log(f"building session-bench with profile {profile}, allocator {allocator} (CARGO_TARGET_DIR={target_dir})")
    features = [] if allocator == "system" else ["--features", allocator]
    subprocess.run(["cargo", "build", "--profile", profile, "-p", "session-bench"] + features, cwd=WORKSPACE,
                   check=True, env=dict(os.environ, CARGO_TARGET_DIR=target_dir))
    built = os.path.join(target_dir, profile, "session-bench")
    binary = binary_path(target_dir, profile, allocator)
    if binary != built:
        # Kept apart, so that --no-build never mixes the allocators up.
        shutil.copy2(built, binary)
    return binary


def binary_path(target_dir: str, profile: str, allocator: str) -> str:
    name = "session-bench" if allocator == "system" else f"session-bench-{allocator}"
    return os.path.join(target_dir, profile, name)


def start_redis(cpu: str | None, workdir: str) -> tuple[subprocess.Popen, int]:
    port = 6379 if port_free(6379) else free_port()
    cmd = taskset(cpu) + ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", workdir,
                          "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning"]
    logfile = open(os.path.join(workdir, "redis.log"), "w")
    proc = start(cmd, stdout=logfile, stderr=subprocess.STDOUT)
    logfile.close()
    wait_port(port, proc)
    return proc, port


def positive_seconds(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def at_least(low):
    """An argparse type: an integer no smaller than `low` (0 would otherwise read as "the default")."""
    def parse(text):
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repetition of shorter runs (under 2 minutes)")
    parser.add_argument("--reps", type=at_least(1), help="repetitions (default 3, quick 1)")
    parser.add_argument("--duration", type=at_least(1), help="seconds per saturated run (default 3, quick 2)")
    parser.add_argument("--paced", type=at_least(0), help="seconds per paced run (default 2, quick 1; 0: none)")
    parser.add_argument("--paced-delay-ms", type=at_least(0), default=4, help="pause of each connection between "
                        "requests in paced runs (default 4 ms: about 7,500 req/s with 32 connections)")
    parser.add_argument("--warmup", type=at_least(0), help="seconds of warm-up per run (default 1, quick 0)")
    parser.add_argument("--connections", type=at_least(1), default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=at_least(1), default=1, help="wrk threads (default 1)")
    parser.add_argument("--modes", help="comma-separated modes (default: all but ours-file; quick: all but ours-file and bare-spin)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--live-sessions", type=at_least(1), default=256, help="sessions the read and write "
                        "scenarios spread their requests over, each request carrying the next "
                        "(default 256; 1: every request on one session)")
    parser.add_argument("--sessions", type=at_least(1), default=100_000, help="sessions created for memory per session")
    parser.add_argument("--no-memory", action="store_true", help="skip memory per session")
    parser.add_argument("--no-build", action="store_true", help="use the binary already built")
    parser.add_argument("--lto", action="store_true", help="build (or, with --no-build, use) the "
                        "release-lto profile: fat LTO and one codegen unit, for every mode alike")
    parser.add_argument("--allocator", choices=["system", "mimalloc"], default="system",
                        help="the server's global allocator, for every mode alike (default: system, glibc's malloc)")
    parser.add_argument("--budget", type=positive_seconds, help="seconds for the whole run after the build "
                        "(default 570, quick 115); runs that would not fit are skipped and said so")
    parser.add_argument("--spin-ns", type=at_least(0), default=1000, help="busy wait per request of the "
                        "calibration mode bare-spin, in ns (default 1000)")
    parser.add_argument("--json", help="also write every run and the aggregate to this file")
    parser.add_argument("--perf", metavar="DIR", help="record a perf profile of the server in each "
                        "measured run into DIR/<mode>-<scenario>.data (profiled numbers are not comparable)")
    opts = parser.parse_args()

    reps = opts.reps or (1 if opts.quick else 3)
    duration = opts.duration or (2 if opts.quick else 3)
    paced = opts.paced if opts.paced is not None else (1 if opts.quick else 2)
    warmup = opts.warmup if opts.warmup is not None else (0 if opts.quick else 1)
    budget = opts.budget or (115.0 if opts.quick else 570.0)
    default_modes = [m for m in MODES if m not in OPT_IN_MODES and not (opts.quick and m == "bare-spin")]
    modes = [m for m in opts.modes.split(",") if m] if opts.modes else default_modes
    scenarios = [s for s in opts.scenarios.split(",") if s]
    for m in modes:
        if m not in MODES:
            parser.error(f"unknown mode {m}")
    for s in scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s}")
    if opts.live_sessions < 1:
        parser.error("--live-sessions must be at least 1")
    if "bare" not in modes:
        modes.insert(0, "bare")
    for tool in ("wrk", "redis-server"):
        if not shutil.which(tool):
            log(f"{tool} is not installed (Debian: apt-get install -y {tool})")
            return 2

    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(WORKSPACE, "target")
    profile = "release-lto" if opts.lto else "release"
    binary = (binary_path(target_dir, profile, opts.allocator) if opts.no_build
              else build(target_dir, profile, opts.allocator))
    if not os.access(binary, os.X_OK):
        parser.error(f"{binary} is not built (run without --no-build once)")

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and shutil.which("taskset"):
        server_cpu, load_cpu = str(cpus[0]), str(cpus[1])
        pinning = f"server on CPU {server_cpu}; wrk and redis-server on CPU {load_cpu}"
    else:
        server_cpu = load_cpu = None
        pinning = "no pinning (fewer than 2 CPUs or no taskset)"

    started = time.monotonic()
    deadline = started + budget
    load_before = loadavg()
    workdir = tempfile.mkdtemp(prefix="session-bench-")
    scripts = {}
    for name, text in (("report", WRK_SPREAD), ("paced", WRK_PACED), ("count", WRK_COUNT)):
        path = os.path.join(workdir, f"{name}.lua")
        with open(path, "w") as f:
            f.write(text)
        scripts[name] = path
    setup = Setup(server_cpu, load_cpu, opts.threads, opts.connections, scripts, workdir)
    redis_proc, redis_port = start_redis(load_cpu, workdir)
    redis = Redis(redis_port)
    env = Env(binary, setup, redis_port, redis, redis_proc.pid, duration, warmup, workdir, paced,
              opts.paced_delay_ms, opts.spin_ns, opts.live_sessions, opts.allocator)
    if opts.perf:
        if not shutil.which("perf"):
            parser.error("--perf needs perf (Debian: apt-get install -y linux-perf)")
        os.makedirs(opts.perf, exist_ok=True)
        env.perf_dir = os.path.abspath(opts.perf)
    log(f"{pinning}; redis-server on 127.0.0.1:{redis_port}; logs in {workdir}")

    memory_modes = [m for m in MEMORY_MODES + ([] if opts.quick else REDIS_MEMORY_MODES) if m in modes]
    memory_each = 8.0 if opts.quick else 12.0
    memory_cost = 0.0 if opts.no_memory else len(memory_modes) * memory_each
    planned = reps * len(scenarios) * len(modes)
    runs: list[dict] = []
    skipped = 0
    # Settling the live sessions takes 4 sequential requests each.
    per_run = duration + warmup + paced + 1.5 + opts.live_sessions * 0.002
    max_load = load_before
    for rep in range(reps):
        # Alternate: each repetition walks the modes in a rotated order.
        order = modes[rep % len(modes):] + modes[:rep % len(modes)]
        for scenario in scenarios:
            for mode in order:
                if time.monotonic() + per_run + memory_cost > deadline:
                    skipped += 1
                    planned -= 1
                    continue
                max_load = max(max_load, loadavg(), key=lambda x: float(x.split()[0]))
                r = run_once(env, mode, scenario, with_monitor=(rep == 0))
                planned -= 1
                # Repeat a disturbed run only if every run still planned fits too.
                if noise(r) > NOISY and time.monotonic() + (planned + 1) * per_run + memory_cost <= deadline:
                    # Other work on the machine disturbed the run: run it again, keep the quieter.
                    log(f"rep {rep + 1}/{reps} {scenario:9} {mode:12} disturbed "
                        f"({noise(r):.2f} CPU of other work); running it again")
                    again = run_once(env, mode, scenario, with_monitor=(rep == 0))
                    again["retried"] = True
                    r = min(r, again, key=noise)
                r["rep"] = rep
                runs.append(r)
                log(f"rep {rep + 1}/{reps} {scenario:9} {mode:12} {r['rps']:>9,.0f} req/s "
                    f"p99 {r['p99']:>6} µs  cpu {r['cpu_us']:.1f} µs/req"
                    + (f"  paced cpu {r['paced']['cpu_us']:.1f} µs/req p99 {r['paced']['p99']} µs"
                       if "paced" in r else "")
                    + (f"  redis {r['redis_cmds']:.2f} cmds/req {r['redis_cpu_us']:.1f} µs/req"
                       if "redis_cmds" in r else ""))

    memory: dict = {}
    if not opts.no_memory:
        for mode in memory_modes:
            if time.monotonic() + memory_each > deadline:
                log(f"memory: skipping {mode} (time budget)")
                continue
            memory[mode] = memory_per_session(env, mode, opts.sessions)
            m = memory[mode]
            log(f"memory {mode}: {m['sessions']:,} sessions, peak RSS {m['peak_rss_bytes_per_session']:.0f} B/session")

    redis.close()
    stop(redis_proc)
    elapsed = time.monotonic() - started
    agg = aggregate(runs)

    print(f"## session-bench results\n")
    command = " ".join(["python3", "bench/run.py"] + sys.argv[1:])
    print(f"- command: `{command}`; {reps} repetition(s); per run: {warmup} s warm-up, {duration} s "
          f"saturated, {paced} s paced ({opts.paced_delay_ms} ms pause per connection); "
          f"wrk -t{opts.threads} -c{opts.connections}; read and write spread over "
          f"{opts.live_sessions} session(s); medians over repetitions (± half the spread of CPU); "
          f"build profile {profile}" + (" (fat LTO, one codegen unit)" if opts.lto else "")
          + f"; allocator {opts.allocator}")
    print(f"- {pinning}; {os.cpu_count()} CPUs; load average (1 min) before {load_before.split()[0]}, "
          f"highest before a run {max_load.split()[0]}, after {loadavg().split()[0]}; took {elapsed:.0f} s"
          + (f"; {skipped} run(s) skipped for the time budget" if skipped else ""))
    if runs:
        noises = sorted(noise(r) for r in runs)
        retried = sum(1 for r in runs if r.get("retried"))
        print(f"- other work on the machine during the measured runs (CPUs busy with neither the server, "
              f"wrk nor redis-server): median {median(noises):.2f}, highest {noises[-1]:.2f}; "
              f"{retried} run(s) repeated for being disturbed (over {NOISY} CPU)")
    print()
    print(table(agg))
    print()
    line = calibration(agg, opts.spin_ns)
    if line:
        print(line)
        print()
    if memory:
        print(f"Memory per session ({opts.sessions:,} sessions created through HTTP `/write` without a cookie; "
              "peak RSS is VmHWM after minus before, over sessions created):\n")
        print(memory_table(memory))
        print()
    detail = redis_detail(agg)
    if detail:
        print("Redis commands per request (INFO commandstats, commands run inside scripts included; "
              "'sent by the server' is a MONITOR sample of 50 requests, i.e. round trips):\n")
        print(detail)
        print()
    print(targets(agg, memory))
    warnings = sanity(agg)
    if warnings:
        print("\nWarnings:")
        for w in warnings:
            print(f"- {w}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"runs": runs, "aggregate": {f"{k[0]} {k[1]}": v for k, v in agg.items()},
                       "memory": memory}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
