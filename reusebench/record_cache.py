"""Measured records kept on disk, so a warm run loads what cannot have changed.

A replacement case's record is a pure function of the networks it involves (the target's
and the donor's weights, by digest), the case itself, the data and evaluation settings,
the code that measures it and the torch version and device type. ``RecordCache`` keys a
record by a digest of all of these; change any of them and the key changes, so the case is
measured anew. Entries are JSON files written atomically (NaN and infinities as JSON's
``NaN``/``Infinity``, which Python reads back exactly; floats round-trip bit for bit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from reusebench.files import atomic_write_text

FORMAT = 1


def source_digest(modules: Iterable[ModuleType | Path]) -> str:
    """SHA-256 over the source files of ``modules`` (modules or paths), in the order given."""
    h = hashlib.sha256()
    for item in modules:
        path = Path(item.__file__) if isinstance(item, ModuleType) else Path(item)
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


class RecordCache:
    """``<root>/<key[:2]>/<key>.json``; ``context`` (code digest, torch, device type, ...) enters every key."""

    def __init__(self, root: Path, context: dict, *, read: bool = True) -> None:
        self.root = Path(root)
        self.context = {"format": FORMAT, **context}
        self.read = read  # False: measure anew (and overwrite), e.g. --remeasure
        self.hits = 0  # records loaded
        self.misses = 0  # records not found (or not read): measured

    def key(self, parts: object) -> str:
        blob = json.dumps([self.context, parts], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if not self.read:
            self.misses += 1
            return None
        try:
            record = json.loads(self._path(key).read_text())
        except (OSError, ValueError):  # absent, or unreadable: measured anew and rewritten
            self.misses += 1
            return None
        self.hits += 1
        return record

    def put(self, key: str, record: dict) -> dict:
        """Store ``record``; returns it as it reads back (tuples as lists), so that a measured
        record and a loaded one are the same object for everything downstream."""
        text = json.dumps(record, sort_keys=True)
        atomic_write_text(self._path(key), text)
        return json.loads(text)
