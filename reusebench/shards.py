"""Shards: one run split over machines (``--shard I/N``), and the merge of their results.

``split_into_shards`` is deterministic: every machine collects the same tests and computes the
same split, so the N shards cover the selection exactly once with no coordination.
``python -m reusebench.merge`` builds one report from the shards' records.
"""

from __future__ import annotations

from collections import Counter


def split_into_shards(items: list[tuple[str, str]], count: int) -> dict[str, int]:
    """Shard (1-based) of each test id, from ``(test id, key)`` pairs: tests with one key stay
    together; keys go, largest first (ties by name), to the shard with the fewest tests so far."""
    sizes = Counter(key for _, key in items)
    load = [0] * count
    shard_of_key = {}
    for key, size in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        lightest = min(range(count), key=lambda i: (load[i], i))
        shard_of_key[key] = lightest + 1
        load[lightest] += size
    return {test: shard_of_key[key] for test, key in items}
