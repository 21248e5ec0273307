"""The child process of test_crash.py: writes stored records until it is killed.

Usage: ``python crash_writer.py <storage url> <data dir>``

Each record is written whole by one write-back (``async with storage.user(...)``), sixteen at a
time so that writes share commits. A record's number is printed only after the write that
holds it has returned, which for SQLite is after its COMMIT: what the parent reads on stdout is
what the storage has promised to keep.
"""

from __future__ import annotations

import asyncio
import sys

from waiter_sdk.storage import Counter, Fields, Storage

PLUGIN = "crash"


class Record(Fields):
    number: int = -1
    payload: str = ""
    writes: Counter = 0


def payload(number: int) -> str:
    # Of varying length, some longer than an SQLite page, and each tied to its number.
    return f"{number}:" + "x" * (number * 37 % 6000)


async def main(url: str, data_dir: str) -> None:
    storage = Storage(url, data_dir, timeout=30)
    storage.declare(PLUGIN, "user", Record)
    if not await storage.open():
        sys.exit(f"could not open {url}")

    async def one(number: int) -> None:
        async with storage.user(PLUGIN, f"u{number}", Record) as record:
            record.number = number
            record.payload = payload(number)
            record.writes += 1
        print(number, flush=True)

    start = 0
    while True:
        await asyncio.gather(*(one(start + k) for k in range(16)))
        start += 16


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
