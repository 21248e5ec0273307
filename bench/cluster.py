"""Cluster figures: session messages through one process, and through an ingress with 1 and 2
workers on a real redis-server, measured in the same run.

Usage::

    .venv/bin/python -m bench.cluster                  # about 2 minutes on the 2-core machine
    .venv/bin/python -m bench.cluster --users 20 --messages 50 --rounds 1 --json out.json

Every configuration runs the SDK's own commands as child processes, as a deployment would:
``waiter-sdk run --adapter onebot11`` for one process; ``waiter-sdk ingress --adapter onebot11``
and ``waiter-sdk worker`` for the cluster. This process plays the OneBot implementation (the
fake, over a reverse WebSocket): each simulated user opens a session (``/echo``) in a private
chat and then talks in lockstep, the next message going out when the reply to the previous one
came back. So the figures are a session message's whole trip, platform to plugin and back.

Besides throughput and latency, the CPU each process spent per message is read from
``/proc/<pid>/stat``, and Redis's own CPU and command count from ``INFO``. Those say what a
message costs each part, which is what the ceiling on more cores follows from: this machine
has 2 cores, shared by the load generator, the ingress, the workers and Redis, so the
throughput measured here cannot show scaling by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine, median, percentile, write_json  # noqa: E402
from bench.onebot11_e2e import drive  # noqa: E402
from tests.onebot11.fake import FakeOneBot  # noqa: E402

SELF_ID = 10001
PLUGIN = ROOT / "bench" / "echo_plugin.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux ``/proc/<pid>/stat`` fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Redis:
    """A redis-server of this run's own, on a free loopback port, nothing persisted."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("bench.cluster needs redis-server (scripts/test installs it as root)")
        self.port = _free_port()
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(workdir)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        from redis import Redis as Client

        self.client = Client(port=self.port, decode_responses=True)
        give_up = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except Exception:
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def counters(self) -> tuple[float, int]:
        """Redis's CPU seconds (main thread and children) and commands processed so far."""
        cpu = self.client.info("cpu")
        stats = self.client.info("stats")
        seconds = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        return seconds, int(stats["total_commands_processed"])

    def close(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class Run:
    """One configuration's measured round."""

    name: str
    messages: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float]  # process role -> CPU seconds spent during the measured part
    redis_commands: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def us_per_message(self, role: str) -> float:
        return self.cpu[role] / self.messages * 1e6


class Deployment:
    """The bot's processes of one configuration, started from the SDK's own commands."""

    def __init__(self, workers: int, redis: Redis | None, logs: Path) -> None:
        self.workers = workers
        self.redis = redis
        self.logs = logs
        self.port = _free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _env(self, worker_id: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAITER_")}
        env.update(
            PYTHONPATH=str(ROOT),
            WAITER_LOG_LEVEL="WARNING",
            WAITER_ONEBOT11__PORT=str(self.port),
            WAITER_ONEBOT11__WS_PING_INTERVAL="0",
            WAITER_DATA_DIR=str(self.logs),
        )
        if self.redis is not None:
            env["WAITER_CLUSTER__REDIS"] = self.redis.url
        if worker_id is not None:
            env["WAITER_CLUSTER__WORKER_ID"] = worker_id
        return env

    def _start(self, role: str, args: list[str], worker_id: str | None = None) -> None:
        out = (self.logs / f"{role}.log").open("ab")
        self.procs[role] = subprocess.Popen(
            [sys.executable, "-m", "waiter_sdk", *args],
            cwd=ROOT,
            env=self._env(worker_id),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()

    async def start(self) -> None:
        if self.workers == 0:
            self._start("process", ["run", "--adapter", "onebot11", "--plugins", str(PLUGIN)])
            return
        for n in range(1, self.workers + 1):
            self._start(f"worker{n}", ["worker", "--plugins", str(PLUGIN)], worker_id=f"w{n}")
        self._start("ingress", ["ingress", "--adapter", "onebot11"])
        await self._wait_workers()

    async def _wait_workers(self) -> None:
        """Until every worker is live and has taken its shards from this very membership."""
        from redis.asyncio import Redis as Client

        from waiter_sdk.cluster.membership import Members

        assert self.redis is not None
        client = Client.from_url(self.redis.url)
        wanted = sorted(f"w{n}" for n in range(1, self.workers + 1))
        members = Members(client, dead_after=3.0)
        try:
            async with asyncio.timeout(60):
                while True:
                    self._check_alive()
                    if sorted(await members.live()) == wanted:
                        views = [await members.info(w) for w in wanted]
                        if all(v and v.get("view") == v.get("reading") == wanted for v in views):
                            return
                    await asyncio.sleep(0.1)
        finally:
            await client.aclose()

    def _check_alive(self) -> None:
        for role, proc in self.procs.items():
            if proc.poll() is not None:
                log = (self.logs / f"{role}.log").read_text(errors="replace")
                raise RuntimeError(f"{role} exited with {proc.returncode}:\n{log[-3000:]}")

    async def connect(self, fake: FakeOneBot) -> None:
        url = f"ws://127.0.0.1:{self.port}/onebot/v11/ws"
        async with asyncio.timeout(60):
            while True:
                self._check_alive()
                try:
                    await fake.connect_reverse(url)
                    return
                except OSError:
                    await asyncio.sleep(0.1)

    def cpu(self) -> dict[str, float]:
        return {role: cpu_seconds(proc.pid) for role, proc in self.procs.items()}

    def stop(self) -> None:
        # Workers first, so their goodbyes still reach Redis while the ingress runs.
        order = sorted(self.procs, key=lambda role: role == "ingress")
        for role in order:
            proc = self.procs[role]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def measure(workers: int, redis: Redis, users: int, messages: int, logs: Path) -> Run:
    name = "one process" if workers == 0 else f"{workers} worker" + "s" * (workers > 1)
    redis.client.flushall()
    deployment = Deployment(workers, redis if workers else None, logs / name.replace(" ", "-"))
    deployment.logs.mkdir(parents=True, exist_ok=True)
    await deployment.start()
    try:
        async with FakeOneBot(SELF_ID) as fake:
            await deployment.connect(fake)
            # A warm-up round: imports, caches, connection pools, the first claims.
            await drive(fake, users, 10, "/echo")
            before, redis_before = deployment.cpu(), redis.counters()
            driver_before = time.process_time()
            elapsed, latencies = await drive(fake, users, messages, "/echo")
            driver = time.process_time() - driver_before
            after, redis_after = deployment.cpu(), redis.counters()
    finally:
        deployment.stop()
    cpu = {role: after[role] - before[role] for role in after}
    cpu["load generator"] = driver
    commands = 0
    if workers:
        cpu["redis"] = redis_after[0] - redis_before[0]
        commands = redis_after[1] - redis_before[1]
    # Each user's opener and closing "q" are outside the lockstep count; their cost is small.
    return Run(name, users * messages, elapsed, latencies, cpu, commands)


def report(runs: dict[str, list[Run]], users: int, messages: int) -> dict[str, Any]:
    print(f"{users} users x {messages} session messages each, lockstep, private chats.")
    print("Medians of the rounds; CPU is per message, of the measured part only.\n")
    head = f"{'configuration':<14}{'msg/s':>8}{'p50 ms':>8}{'p99 ms':>8}   CPU us per message"
    print(head)
    print("-" * 90)
    summary: dict[str, Any] = {}
    for name, rounds in runs.items():
        rate = median([r.rate for r in rounds])
        p50 = median([percentile(r.latencies, 50) * 1000 for r in rounds])
        p99 = median([percentile(r.latencies, 99) * 1000 for r in rounds])
        roles = sorted(rounds[0].cpu, key=lambda role: (role == "load generator", role))
        cpu = {role: median([r.us_per_message(role) for r in rounds]) for role in roles}
        commands = median([r.redis_commands / r.messages for r in rounds])
        parts = ", ".join(f"{role} {value:.0f}" for role, value in cpu.items())
        print(f"{name:<14}{rate:>8.0f}{p50:>8.2f}{p99:>8.2f}   {parts}")
        summary[name] = {
            "rate": rate,
            "p50_ms": p50,
            "p99_ms": p99,
            "cpu_us_per_message": cpu,
            "redis_commands_per_message": commands,
            "rounds": [r.rate for r in rounds],
        }
    print()
    single = summary["one process"]
    for name in runs:
        if name == "one process":
            continue
        figures = summary[name]
        cpu = figures["cpu_us_per_message"]
        workers = [value for role, value in cpu.items() if role.startswith("worker")]
        bot_side = sum(value for role, value in cpu.items() if role != "load generator")
        single_cost = single["cpu_us_per_message"]["process"]
        print(
            f"{name}: {figures['redis_commands_per_message']:.1f} Redis commands per message; "
            f"the bot side spends {bot_side:.0f} us of CPU per message against "
            f"{single_cost:.0f} in one process ({bot_side / single_cost:.1f}x)."
        )
        ingress = 1e6 / cpu["ingress"]
        redis = 1e6 / cpu["redis"]
        worker_cost = sum(workers)  # every message is handled by one worker: the sum is its cost
        one_worker_core = 1e6 / worker_cost
        print(
            f"  one core each could carry: ingress {ingress:,.0f} msg/s, Redis {redis:,.0f} "
            f"msg/s, a worker {one_worker_core:,.0f} msg/s"
        )
        figures["ceilings"] = {
            "ingress_per_core": ingress,
            "redis_per_core": redis,
            "worker_per_core": one_worker_core,
        }
    return summary


async def bench(users: int, messages: int, rounds: int, json_path: str | None) -> None:
    configurations = (0, 1, 2)
    runs: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        redis = Redis(Path(tmp))
        try:
            for n in range(rounds):  # interleaved, so drift in machine load hits all alike
                for workers in configurations:
                    run = await measure(workers, redis, users, messages, Path(tmp) / f"r{n}")
                    runs.setdefault(run.name, []).append(run)
                    print(f"  round {n + 1}: {run.name}: {run.rate:.0f} msg/s", file=sys.stderr)
        finally:
            redis.close()
    summary = report(runs, users, messages)
    write_json(json_path, "cluster", machine(), users=users, messages=messages, summary=summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    asyncio.run(bench(args.users, args.messages, args.rounds, args.json))


if __name__ == "__main__":
    main()
