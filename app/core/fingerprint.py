"""A cheap, stable fingerprint of a model file (multi-GB files are not hashed whole)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_SAMPLE = 1024 * 1024


def model_fingerprint(path: Path) -> str:
    """sha256 over the size and the first and last MiB: enough to tell files apart.

    Hashing a 40 GB model whole would take minutes; a replaced or re-quantized file
    changes its size or its header and tail, which is what a reply's record needs.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        digest.update(size.to_bytes(8, "little"))
        handle.seek(0)
        digest.update(handle.read(_SAMPLE))
        if size > 2 * _SAMPLE:
            handle.seek(size - _SAMPLE)
            digest.update(handle.read(_SAMPLE))
    return "fp1:" + digest.hexdigest()[:32]
