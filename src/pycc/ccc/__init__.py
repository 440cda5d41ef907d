"""The agent client (DESIGN.md's ccc): what a call-center agent's browser talks to.

`pycc.ccc.webphone` turns a browser into the agent's phone: WebRTC media (ICE, DTLS-SRTP,
Opus) ends in pycc, and an internal SIP user agent registered as the agent's extension
carries the calls, so the ACD, transfers, recordings and supervisors treat the browser like
any desk phone. `pycc.ccc.web` holds the pages `pycc serve` shows at ``/ui/``.
"""
