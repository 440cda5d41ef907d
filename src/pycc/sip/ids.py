"""Random identifiers: tags, branches and Call-IDs (RFC 3261 §19.3, §8.1.1.4, §8.1.1.7).

They must be globally unique and hard to guess (a guessed tag lets a third party end a call),
so they come from the operating system's random source; reading it in large blocks keeps the
cost per identifier low when hundreds of calls start each second.
"""

from __future__ import annotations

import os

_BLOCK = 4096
_pool = b""
_offset = 0


def token_bytes(nbytes: int) -> bytes:
    """``nbytes`` random bytes, like `secrets.token_bytes`, from the pooled block."""
    global _pool, _offset
    if _offset + nbytes > len(_pool):
        _pool = os.urandom(max(_BLOCK, nbytes))
        _offset = 0
    chunk = _pool[_offset : _offset + nbytes]
    _offset += nbytes
    return chunk


def token_hex(nbytes: int = 8) -> str:
    """``nbytes`` random bytes as lower-case hex, like `secrets.token_hex`."""
    return token_bytes(nbytes).hex()
