"""rfid_pipeline: raw tag reads processed per second (dedupe + decode + zone state), one core.

    python bench/rfid_pipeline.py [--reads 1000000] [--tags 5000]

Feeds ``RfidPresence`` a stream of reads from ``--tags`` distinct SGTIN-96 tags on 4 antennas
(2 zones) where 90% of reads repeat a tag within the dedupe window, the way a fixed reader
reports. The ceiling is a bare loop over the same reads that only records each tag in a dict
(the least any pipeline must do per read). Goal: >= 100,000 reads/s.
"""

from __future__ import annotations

import argparse
import random
import time

from _common import emit, log

from devices.rfid.epc import encode_sgtin96
from edge_agent.rfid_presence import Read, RfidPresence

ZONES = {
    ("reader-1", 1): "sales_floor",
    ("reader-1", 2): "sales_floor",
    ("reader-1", 3): "backroom",
    ("reader-1", 4): "backroom",
}


def make_reads(count: int, tags: int, seed: int = 1) -> list[Read]:
    rng = random.Random(seed)
    epcs = [encode_sgtin96("0614141", f"8{n % 100000:05d}", n).hex() for n in range(tags)]
    reads = []
    recent: list[Read] = []
    for _ in range(count):
        if recent and rng.random() < 0.9:
            reads.append(rng.choice(recent))  # the same tag again within the window
            continue
        read = Read(rng.choice(epcs), rng.randint(1, 4), "reader-1")
        recent.append(read)
        if len(recent) > 50:
            recent.pop(0)
        reads.append(read)
    return reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=5000)
    args = parser.parse_args()
    reads = make_reads(args.reads, args.tags)
    batches = [reads[i : i + 200] for i in range(0, len(reads), 200)]  # one reader report each

    seen: dict[str, float] = {}
    start = time.perf_counter()
    for batch in batches:
        now = time.perf_counter()
        for read in batch:
            seen[read.epc_hex] = now
    ceiling = args.reads / (time.perf_counter() - start)

    presence = RfidPresence(ZONES, dedupe_s=1.0, depart_after_s=60.0)
    start = time.perf_counter()
    for batch in batches:
        presence.observe(batch, time.perf_counter())
    elapsed = time.perf_counter() - start
    rate = args.reads / elapsed
    log(
        f"pipeline: {rate:,.0f} reads/s ({presence.duplicates:,} duplicates dropped, "
        f"{len(presence.count_by_gtin()):,} GTINs present); bare dict loop: {ceiling:,.0f}/s"
    )
    emit(
        "rfid_pipeline",
        rate,
        "reads/s",
        ceiling=ceiling,
        ceiling_what="bare loop recording each read's tag in a dict",
        reads=args.reads,
        distinct_tags=args.tags,
        duplicate_share=0.9,
        duplicates_dropped=presence.duplicates,
        goal=100_000,
    )


if __name__ == "__main__":
    main()
