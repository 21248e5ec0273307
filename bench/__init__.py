"""The benchmark suite of issue 6: ``python -m bench [name ...]`` or ``scripts/bench``.

One module per scenario (startup, parse, routing, throughput, timeouts, idle), each with a
bare-asyncio baseline measured in the same run; ``bench.profile`` profiles a scenario's timed
window; ``bench.loops`` compares asyncio and uvloop in paired rounds; ``bench.astrbot_idle``
measures AstrBot's idle session beside ours. Results and analysis are in docs/performance.md.
"""
