"""SDP (RFC 8866) session descriptions and the offer/answer model (RFC 3264)."""
