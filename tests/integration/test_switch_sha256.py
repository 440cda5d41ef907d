"""RFC 8760 digest: with SHA-256 offered first, a phone answering it registers and calls;
with the default (MD5 only) no SHA-256 challenge is sent."""

from __future__ import annotations

from pathlib import Path

from peers.rawsip import SipAgent, ThreadedSwitch, invite_request, prepare_data_dir, switch_config

USERS = [("1001", "secret1001"), ("1002", "secret1002")]


def test_sha256_register_and_invite(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path, USERS)
    config = switch_config(tmp_path, auth_algorithms=("SHA-256", "MD5"))
    with ThreadedSwitch(config) as switch:
        agent = SipAgent("1001", "secret1001", switch.udp)
        with agent.peer:
            request = agent.register_request(expires=600)
            challenge = agent.transact(request)
            assert challenge.status == 401
            offered = challenge.lines("www-authenticate")
            assert [v.split("algorithm=")[1].split(",")[0] for v in offered] == ["SHA-256", "MD5"]
            signed = agent.authorize(request, challenge)  # answers the first: SHA-256
            assert "algorithm=SHA-256" in (signed.get("Authorization") or "")
            assert agent.transact(signed).status == 200
            # a wrong SHA-256 digest is refused like an MD5 one
            bad = agent.authorize(request, challenge, password="wrong")
            assert agent.transact(bad).status == 401
            # INVITE: 407 with SHA-256 first, answered with SHA-256, reaches routing (480)
            invite = invite_request(agent, "1002")
            first = agent.transact(invite)
            assert first.status == 407
            agent.ack_failure(invite, first)
            answer = agent.transact(agent.authorize(invite, first))
            assert answer.status == 480


def test_default_offers_md5_only(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path, USERS)
    with ThreadedSwitch(switch_config(tmp_path)) as switch:
        agent = SipAgent("1001", "secret1001", switch.udp)
        with agent.peer:
            challenge = agent.transact(agent.register_request())
            offered = challenge.lines("www-authenticate")
            assert len(offered) == 1 and "algorithm=MD5" in offered[0]
