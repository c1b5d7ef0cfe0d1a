"""Writing result files atomically, and the numbers they hold.

Every file is written atomically (temporary file, fsync, rename), so an interrupted run
never leaves a half-written file that a later reader would take as valid. JSON has no
NaN or infinity: ``json_safe`` writes them as the strings "nan", "inf" and "-inf", and
``num`` reads them back.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable, binary: bool = False) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it to ``path``.

    Readers see the old file or the whole new one; a failure leaves no temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    atomic_write(path, lambda fh: fh.write(text))


def remove_stale_temporaries(directory: Path) -> None:
    """Temporary files of a writer that was killed between write and rename."""
    for stale in Path(directory).glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def json_safe(value):
    """JSON has no NaN/Inf: write them as strings, so the file stays standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def num(value) -> float | None:
    """A record's number as a float, also from the strings "nan"/"inf"/"-inf" of ``json_safe``.

    None stays None. Anything else that is not a number raises ``float``'s TypeError or
    ValueError: a reader that must reject garbage (a stored baseline) relies on that.
    """
    if value is None:
        return None
    return float(value)
