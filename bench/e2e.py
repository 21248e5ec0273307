"""What the end-to-end adapter benches share: one round's result and the table printing it.

Each bench (``onebot11_e2e``, ``satori_e2e``, ...) drives lockstep users through the SDK and
through a bare aiohttp bot doing the same work, and reports both with these.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Result", "table"]


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    latencies: list[float]
    cpu: float  # seconds of CPU the bot side (this process) used meanwhile

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_per_event(self) -> float:
        """Bot-side CPU microseconds per message (event in, reply out, answer matched)."""
        return self.cpu / self.messages * 1e6

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def table(results: list[Result]) -> str:
    head = (
        f"{'path':<14}{'messages':>9}{'seconds':>9}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'bot CPU us/ev':>15}{'1-core max/s':>14}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.name:<14}{r.messages:>9}{r.seconds:>9.2f}{r.rate:>10.0f}"
            f"{r.percentile(0.5):>8.2f}{r.percentile(0.99):>8.2f}"
            f"{r.cpu_per_event:>15.0f}{1e6 / r.cpu_per_event:>14.0f}"
        )
    return "\n".join(lines)
