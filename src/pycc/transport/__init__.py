"""Asyncio transports for SIP: UDP, TCP and TLS, feeding the sans-I/O core."""
