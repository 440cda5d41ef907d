"""pycc.media: the media server's I/O adapters (RTP sockets, SRTP, relays, bridges, players,
recorders, mixer)."""
