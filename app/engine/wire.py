"""How events travel from the engine process: text cheaply, everything else pickled.

Text chunks are most of the traffic (one per token or so), so they skip pickle: a tag
byte, the job id and token count, then the UTF-8 text. Pickling a dataclass per token
cost more than the rest of the host's per-token work together.
"""

from __future__ import annotations

import pickle
import struct

from app.engine.protocol import Event, TextChunk

_TEXT = b"T"
_PICKLED = b"P"
_TEXT_HEADER = struct.Struct("<qI")


def encode_event(event: Event) -> bytes:
    if type(event) is TextChunk:
        header = _TEXT_HEADER.pack(event.job_id, event.tokens)
        return b"".join((_TEXT, header, event.text.encode("utf-8")))
    return _PICKLED + pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL)


def decode_event(data: bytes) -> Event:
    tag = data[:1]
    if tag == _TEXT:
        job_id, tokens = _TEXT_HEADER.unpack_from(data, 1)
        return TextChunk(job_id, data[1 + _TEXT_HEADER.size :].decode("utf-8"), tokens)
    if tag == _PICKLED:
        event: Event = pickle.loads(data[1:])
        return event
    raise ValueError(f"unknown engine message tag {tag!r}")
