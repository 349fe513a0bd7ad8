"""The grader's wire format: plain data only, never anything executable.

The grader and the sandboxed worker that runs a student's code talk over two pipes. Each
message is a JSON header followed by zero or more NumPy ``.npy`` blobs, every piece sent as
an 8-byte length and its bytes. Values are encoded as tagged JSON (``None``, bools, ints,
floats, short strings, lists and tuples of those) and NumPy arrays or scalars of a numeric
or boolean dtype (read back with ``allow_pickle=False``). Anything else is refused when it
is encoded, and a malformed message is refused when it is read: whatever the student's
process writes, the grader gets plain data or a :class:`WireError`.

Examples
--------
>>> blobs = []
>>> header = encode((np.arange(3), [1, 2.5], None), blobs)
>>> decode(header, blobs)
(array([0, 1, 2]), [1, 2.5], None)
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import time

import numpy as np

MAX_MESSAGE_BYTES = 64 * 2**20  # one whole message, header and arrays (a notebook is at most 32 MiB)
MAX_BLOBS = 64
MAX_DEPTH = 16
MAX_ITEMS = 100_000
MAX_STRING = 10_000


class WireError(Exception):
    """A value that cannot travel, or a message that is not well formed."""


class WireTimeout(WireError):
    """No complete message arrived before the deadline."""


class WireClosed(WireError):
    """The other side closed its pipe (the process ended)."""


def encode(value, blobs: list, depth: int = 0):
    """Return the JSON-able form of ``value``; arrays are appended to ``blobs`` as .npy bytes."""
    if depth > MAX_DEPTH:
        raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return {"v": value}
    if isinstance(value, int):
        try:
            return {"i": int.__repr__(value)}
        except ValueError:  # more digits than Python converts to text
            raise WireError("an integer with too many digits") from None
    if isinstance(value, float):
        return {"f": float.__repr__(value)}
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise WireError(f"a string of {len(value)} characters (at most {MAX_STRING})")
        return {"s": value}
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            raise WireError(f"a sequence of {len(value)} items (at most {MAX_ITEMS})")
        key = "l" if isinstance(value, list) else "t"
        return {key: [encode(item, blobs, depth + 1) for item in value]}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise WireError(f"a NumPy value of dtype {array.dtype} (numbers or booleans only)")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        blobs.append(buffer.getvalue())
        return {"a" if isinstance(value, np.ndarray) else "g": len(blobs) - 1}
    raise WireError(f"a value of type {type(value).__name__} (numbers, arrays, lists, tuples, "
                    "strings or None only)")


def decode(node, blobs: list, depth: int = 0):
    """Inverse of :func:`encode`; raises :class:`WireError` on anything unexpected."""
    if depth > MAX_DEPTH or not isinstance(node, dict) or len(node) != 1:
        raise WireError("malformed value")
    (key, item), = node.items()
    try:
        if key == "v" and (item is None or isinstance(item, bool)):
            return item
        if key == "i" and isinstance(item, str) and len(item) <= 400:
            return int(item)
        if key == "f" and isinstance(item, str) and len(item) <= 40:
            return float(item)
        if key == "s" and isinstance(item, str) and len(item) <= MAX_STRING:
            return item
        if key in "lt" and isinstance(item, list) and len(item) <= MAX_ITEMS:
            items = [decode(child, blobs, depth + 1) for child in item]
            return items if key == "l" else tuple(items)
        if key in "ag" and isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(blobs):
            array = np.load(io.BytesIO(blobs[item]), allow_pickle=False)
            if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
                raise WireError("an array of an unexpected dtype")
            return array if key == "a" else array[()]
    except (ValueError, TypeError, OSError, EOFError, RecursionError) as error:
        raise WireError(f"malformed value ({type(error).__name__})") from None
    raise WireError("malformed value")


# --- framing ----------------------------------------------------------------------------

def send(fd: int, header: dict, blobs=()) -> None:
    """Write one message (a JSON header and its blobs) to file descriptor ``fd``; a message
    larger than the reader accepts raises :class:`WireError` and nothing is written."""
    header = dict(header, blobs=len(blobs))
    pieces = [json.dumps(header).encode()] + list(blobs)
    size = sum(8 + len(piece) for piece in pieces)
    if size > MAX_MESSAGE_BYTES or len(blobs) > MAX_BLOBS:
        raise WireError(f"a message of {size} bytes in {len(pieces)} pieces "
                        f"(at most {MAX_MESSAGE_BYTES} bytes, {MAX_BLOBS + 1} pieces)")
    data = b"".join(struct.pack(">Q", len(piece)) + piece for piece in pieces)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Reader:
    """Reads messages from a pipe, each read bounded by a deadline (``time.monotonic()``).

    A message's pieces announce their sizes before their bytes; the reader refuses a
    message the moment its announced sizes add up to more than ``MAX_MESSAGE_BYTES``, so
    it never holds more than one message's worth of bytes (plus one read's slack)."""

    def __init__(self, fd: int):
        self.fd, self.buffer, self.taken = fd, bytearray(), 0

    def _exactly(self, size: int, deadline: float | None) -> bytes:
        while len(self.buffer) < size:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise WireTimeout("no answer before the deadline")
            chunk = os.read(self.fd, max(65536, min(size - len(self.buffer), 2**24)))
            if not chunk:
                raise WireClosed("the other side closed the pipe")
            self.buffer += chunk
        piece, self.buffer = bytes(self.buffer[:size]), self.buffer[size:]
        return piece

    def _piece(self, deadline):
        (size,) = struct.unpack(">Q", self._exactly(8, deadline))
        self.taken += 8 + size
        if self.taken > MAX_MESSAGE_BYTES:
            raise WireError(f"a message of more than {MAX_MESSAGE_BYTES} bytes")
        return self._exactly(size, deadline)

    def receive(self, deadline: float | None = None) -> tuple[dict, list]:
        """Return ``(header, blobs)`` of the next message."""
        self.taken = 0
        try:
            header = json.loads(self._piece(deadline))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise WireError("a message header that is not JSON") from None
        count = header.get("blobs") if isinstance(header, dict) else None
        if not isinstance(count, int) or not 0 <= count <= MAX_BLOBS:
            raise WireError("a message header without a valid blob count")
        return header, [self._piece(deadline) for _ in range(count)]
