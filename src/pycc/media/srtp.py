"""SRTP and SRTCP for one call leg keyed by SDES, on top of pylibsrtp (libsrtp 2).

An :class:`SrtpLeg` holds two libsrtp sessions built from the two ``a=crypto`` lines that an
offer/answer exchange settled on (RFC 4568 §5.1.2, :mod:`pycc.sdp.crypto`):

- what pycc sends is protected with its **local** key (RFC 3711 §3.3 SRTP, §3.4 SRTCP;
  RFC 7714 §8 and §9 for AES-GCM), under an ``SSRC_ANY_OUTBOUND`` policy so whatever SSRC
  the media server sends with gets a stream;
- what it receives is verified and decrypted with the **remote** key, under an
  ``SSRC_ANY_INBOUND`` policy, so a peer that changes its SSRC mid-call (a transfer behind
  it, a restarted phone) keeps working. libsrtp creates the new stream only once a packet
  with that SSRC has authenticated, so forged packets cannot make it grow.

Receiving never raises: a packet that fails authentication, repeats or falls behind the
replay window (RFC 3711 §3.3.2), or is malformed, returns ``None`` and is counted in
:attr:`~SrtpLeg.auth_failures`, :attr:`~SrtpLeg.replays` or :attr:`~SrtpLeg.errors`; the
caller drops it. Sending raises :class:`SrtpError` for a packet libsrtp refuses (too short to
be RTP, an index it already used): that is pycc's own input, and the caller counts and drops.

A single MKI per key is supported (RFC 3711 §3.1): pylibsrtp cannot configure one, so the MKI
bytes are inserted after protection and checked and removed before verification. They are not
covered by the authentication tag, so this is exactly what libsrtp would do with one key. They
sit before the tag for AES-CM, and after the whole ciphertext and tag (and the SRTCP index)
for AES-GCM, where the tag is part of the ciphertext.

Limits of pylibsrtp 1.0: a session works in one 1500-byte buffer, so SRTP or SRTCP packets
over 1500 bytes are counted as errors and RTP packets over 1356 bytes cannot be protected;
the SDES lifetime is not enforced here (libsrtp enforces the suite's 2^48 limit), rekeying by
re-INVITE is the caller's decision. Keys are never logged: this module's ``repr`` and messages
name the suite only.
"""

from __future__ import annotations

from typing import Final

import pylibsrtp
from pylibsrtp import Policy, Session

from pycc.sdp.crypto import CryptoAttribute

__all__ = ["DEFAULT_REPLAY_WINDOW", "SrtpError", "SrtpLeg"]

#: Packets libsrtp remembers for replay checks; its own default (RFC 3711 §3.3.2 asks for at
#: least 64). A larger window tolerates deeper reordering.
DEFAULT_REPLAY_WINDOW: Final = 128

_RTP_HEADER = 12  # RFC 3550 §5.1 fixed header
_RTCP_HEADER = 8  # RFC 3550 §6.4.1 up to the sender's SSRC
_SRTCP_INDEX = 4  # RFC 3711 §3.4: E flag and 31-bit index

# libsrtp reports failures only through pylibsrtp.Error's message, its srtp_err_status text.
_AUTH_FAILURE: Final = "authentication failure"
_REPLAY_FAILURES: Final = frozenset(
    {
        "replay check failed (bad index)",
        "replay check failed (index too old)",
        "packet index is too old to consider",
    }
)


class SrtpError(ValueError):
    """A leg that cannot be built from its keys, or a packet that cannot be protected."""


Packet = bytes | bytearray | memoryview


class SrtpLeg:
    """SRTP/SRTCP protection for what pycc sends on a leg, and verification of what it receives.

    ``local`` is the ``a=crypto`` line pycc wrote (its own key, used to protect), ``remote`` the
    one the peer wrote (used to unprotect); both have the same suite (RFC 4568 §5.1.2).
    """

    __slots__ = (
        "_rtcp_tail",
        "_rtp_tail",
        "_rx",
        "_rx_min_rtcp",
        "_rx_min_rtp",
        "_rx_mki",
        "_tx",
        "_tx_mki",
        "auth_failures",
        "errors",
        "replays",
        "suite",
    )

    def __init__(
        self,
        local: CryptoAttribute,
        remote: CryptoAttribute,
        *,
        replay_window: int = DEFAULT_REPLAY_WINDOW,
    ) -> None:
        if local.suite != remote.suite:
            raise SrtpError(
                f"local suite {local.suite} and remote suite {remote.suite} differ;"
                " an answer must keep the offered suite"
            )
        if not 64 <= replay_window <= 0x8000:
            # libsrtp's bounds for its replay bitmap.
            raise SrtpError(f"replay window {replay_window} is outside 64-32768 packets")
        suite = local.crypto_suite
        profile: int = getattr(Policy, suite.srtp_profile)
        #: The suite's name, for logs and statistics.
        self.suite: str = suite.name
        #: Received packets whose authentication tag did not verify (forged or corrupted).
        self.auth_failures = 0
        #: Received packets already seen or older than the replay window.
        self.replays = 0
        #: Received packets too short, too long, with a wrong MKI, or refused otherwise.
        self.errors = 0
        self._tx = self._session(local, Policy.SSRC_ANY_OUTBOUND, profile, replay_window)
        self._rx = self._session(remote, Policy.SSRC_ANY_INBOUND, profile, replay_window)
        self._tx_mki = local.mki_bytes
        self._rx_mki = remote.mki_bytes
        # Bytes after the MKI: the HMAC tag for AES-CM, nothing for GCM (RFC 7714 §8.1, §9.1).
        self._rtp_tail = 0 if suite.aead else suite.rtp_tag_length
        self._rtcp_tail = 0 if suite.aead else suite.rtcp_tag_length
        # Anything shorter cannot hold a header and a tag; it never reaches libsrtp.
        self._rx_min_rtp = _RTP_HEADER + suite.rtp_tag_length + len(self._rx_mki)
        self._rx_min_rtcp = _RTCP_HEADER + _SRTCP_INDEX + suite.rtcp_tag_length + len(self._rx_mki)

    @staticmethod
    def _session(attr: CryptoAttribute, ssrc_type: int, profile: int, window: int) -> Session:
        try:
            policy = Policy(key=attr.key_salt, ssrc_type=ssrc_type, srtp_profile=profile)
            policy.window_size = window
            return Session(policy)
        except (pylibsrtp.Error, ValueError, TypeError) as exc:
            raise SrtpError(f"libsrtp refused a {attr.suite} key: {exc}") from None

    def __repr__(self) -> str:
        return (
            f"SrtpLeg(suite={self.suite!r}, auth_failures={self.auth_failures},"
            f" replays={self.replays}, errors={self.errors})"
        )

    # -- sending ----------------------------------------------------------------------------

    def protect_rtp(self, packet: Packet) -> bytes:
        """The SRTP packet for an RTP packet pycc sends; :class:`SrtpError` if libsrtp refuses."""
        try:
            protected = self._tx.protect(packet if type(packet) is bytes else bytes(packet))
        except (pylibsrtp.Error, ValueError) as exc:
            raise SrtpError(f"cannot protect RTP packet: {exc}") from None
        if self._tx_mki:
            return _insert(protected, self._tx_mki, self._rtp_tail)
        return protected

    def protect_rtcp(self, packet: Packet) -> bytes:
        """The SRTCP packet for a (compound) RTCP packet pycc sends."""
        try:
            protected = self._tx.protect_rtcp(packet if type(packet) is bytes else bytes(packet))
        except (pylibsrtp.Error, ValueError) as exc:
            raise SrtpError(f"cannot protect RTCP packet: {exc}") from None
        if self._tx_mki:
            return _insert(protected, self._tx_mki, self._rtcp_tail)
        return protected

    # -- receiving --------------------------------------------------------------------------

    def unprotect_rtp(self, packet: Packet) -> bytes | None:
        """The RTP packet inside a received SRTP packet, or ``None`` (counted) to drop it."""
        if len(packet) < self._rx_min_rtp:
            self.errors += 1
            return None
        data = packet if type(packet) is bytes else bytes(packet)
        if self._rx_mki:
            stripped = _strip(data, self._rx_mki, self._rtp_tail)
            if stripped is None:
                self.errors += 1
                return None
            data = stripped
        try:
            return self._rx.unprotect(data)
        except pylibsrtp.Error as exc:
            self._count(exc)
        except ValueError:  # longer than pylibsrtp's buffer
            self.errors += 1
        return None

    def unprotect_rtcp(self, packet: Packet) -> bytes | None:
        """The RTCP packet inside a received SRTCP packet, or ``None`` (counted) to drop it."""
        if len(packet) < self._rx_min_rtcp:
            self.errors += 1
            return None
        data = packet if type(packet) is bytes else bytes(packet)
        if self._rx_mki:
            stripped = _strip(data, self._rx_mki, self._rtcp_tail)
            if stripped is None:
                self.errors += 1
                return None
            data = stripped
        try:
            return self._rx.unprotect_rtcp(data)
        except pylibsrtp.Error as exc:
            self._count(exc)
        except ValueError:
            self.errors += 1
        return None

    def _count(self, exc: pylibsrtp.Error) -> None:
        reason = str(exc)
        if reason == _AUTH_FAILURE:
            self.auth_failures += 1
        elif reason in _REPLAY_FAILURES:
            self.replays += 1
        else:
            self.errors += 1


def _insert(packet: bytes, mki: bytes, tail: int) -> bytes:
    # RFC 3711 §3.1 / §3.4: the MKI goes between the encrypted part and the authentication
    # tag (``tail`` bytes); with GCM there is no separate tag after it (tail 0).
    if not tail:
        return packet + mki
    cut = len(packet) - tail
    return packet[:cut] + mki + packet[cut:]


def _strip(packet: bytes, mki: bytes, tail: int) -> bytes | None:
    # The caller checked the length; None when the MKI is not the one our single key has.
    end = len(packet) - tail
    start = end - len(mki)
    if packet[start:end] != mki:
        return None
    return packet[:start] + packet[end:] if tail else packet[:start]
