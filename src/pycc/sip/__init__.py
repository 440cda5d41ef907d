"""SIP protocol core (RFC 3261 and extensions), sans-I/O: no asyncio, no sockets, time passed in."""
