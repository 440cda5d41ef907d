"""Recordings and prompts through the admin API, on a running switch.

Who reads what: an admin and a supervisor every recording of their tenant, an agent only
those of its own calls, another tenant's users none (404, as if they did not exist); only
an admin deletes (audited). Downloads stream the bytes whose SHA-256 the ``Repr-Digest``
and ``Digest`` headers give, and serve one ``Range``. Traversal and injection attempts on
file and query parameters (``..%2F``, absolute paths, NUL, backslashes, very long names,
quotes) are refused with a problem naming the field, or match nothing. Prompts are
uploaded, checked to be audio, listed, downloaded and deleted.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx

from api.test_api_core import Api, fields, problem, run
from files.audio_files import wav_bytes
from pycc.aaa import audit
from pycc.config import FilesConfig
from pycc.files.service import FileService
from pycc.store.models import CallRecord

ANSWER = 1_700_000_000.0


def files_of(api: Api) -> FileService:
    assert api.switch.files is not None
    return api.switch.files


def record_call(api: Api, call_id: str, agent: str | None, content: bytes,
                tenant: str = "default") -> None:
    """A closed call of ``agent`` whose recording is ``content``."""
    relative = f"2023-11-14/{call_id}.wav"
    path = api.switch.config.recordings_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    owner = api.store.get_tenant(tenant)
    assert owner is not None and owner.id is not None
    api.store.add_call_record(CallRecord(
        tenant_id=owner.id, call_id=call_id, caller="555", callee="1001",
        direction="inbound", start=ANSWER - 10, answer=ANSWER, end=ANSWER + 20,
        disposition="answered", hangup_cause="200 BYE", hangup_by="caller", sip_status=200,
        node=api.switch.config.node, recording=relative, agent=agent, queue="sales"))


def digest_of(response: httpx.Response) -> str:
    """The SHA-256 (hex) the response's ``Repr-Digest`` gives."""
    value = response.headers["repr-digest"]
    assert value.startswith("sha-256=:") and value.endswith(":"), value
    legacy = response.headers["digest"]
    assert legacy == "sha-256=" + value[len("sha-256=:"):-1]
    return base64.b64decode(value[len("sha-256=:"):-1]).hex()


def test_recordings_are_read_by_those_allowed_only(tmp_path: Path) -> None:
    alice_audio, bob_audio = wav_bytes(1.0, channels=2), wav_bytes(0.5, channels=2)

    async def scenario(api: Api) -> None:
        c = api.client
        record_call(api, "call-alice", "alice", alice_audio)
        record_call(api, "call-bob", "bob", bob_audio)
        assert await files_of(api).index() == 2
        listed = await c.get("/v1/recordings", headers=api.auth("admin"))
        assert listed.status_code == 200, listed.text
        items = {item["call_id"]: item for item in listed.json()["items"]}
        assert set(items) == {"call-alice", "call-bob"}
        alice_id, bob_id = items["call-alice"]["id"], items["call-bob"]["id"]
        assert items["call-alice"]["sha256"] == hashlib.sha256(alice_audio).hexdigest()
        assert items["call-alice"]["content_type"] == "audio/wav"
        assert items["call-alice"]["duration"] == 1.0
        supervised = (await c.get("/v1/recordings", headers=api.auth("super"))).json()
        assert len(supervised["items"]) == 2

        # An agent: its own recordings only, listed, read and downloaded.
        own = (await c.get("/v1/recordings", headers=api.auth("alice"))).json()
        assert [i["call_id"] for i in own["items"]] == ["call-alice"]
        problem(await c.get("/v1/recordings?agent=bob", headers=api.auth("alice")), 403)
        problem(await c.get(f"/v1/recordings/{bob_id}", headers=api.auth("alice")), 403)
        problem(await c.get(f"/v1/recordings/{bob_id}/content", headers=api.auth("alice")),
                403)
        mine = await c.get(f"/v1/recordings/{alice_id}", headers=api.auth("alice"))
        assert mine.status_code == 200 and mine.json()["agent"] == "alice"
        content = await c.get(f"/v1/recordings/{alice_id}/content", headers=api.auth("alice"))
        assert content.status_code == 200, content.text
        assert content.content == alice_audio
        assert content.headers["content-type"] == "audio/wav"
        assert digest_of(content) == hashlib.sha256(content.content).hexdigest()

        # Another tenant: nothing there, and no way to reach this one's by id.
        acme = await c.get("/v1/recordings", headers=api.auth("acme"))
        assert acme.status_code == 200 and acme.json()["items"] == []
        for path in (f"/v1/recordings/{alice_id}", f"/v1/recordings/{alice_id}/content"):
            problem(await c.get(path, headers=api.auth("acme")), 404)
        problem(await c.delete(f"/v1/recordings/{alice_id}", headers=api.auth("acme")), 404)
        problem(await c.get("/v1/recordings"), 401)

    run(tmp_path, scenario)


def test_downloads_serve_ranges_with_the_whole_files_digest(tmp_path: Path) -> None:
    audio = wav_bytes(0.5)

    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        record_call(api, "call-1", "alice", audio)
        await files_of(api).index()
        (item,) = (await c.get("/v1/recordings", headers=admin)).json()["items"]
        url = f"/v1/recordings/{item['id']}/content"
        part = await c.get(url, headers={**admin, "Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.content == audio[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(audio)}"
        assert digest_of(part) == hashlib.sha256(audio).hexdigest()
        tail = await c.get(url, headers={**admin, "Range": "bytes=-4"})
        assert tail.status_code == 206 and tail.content == audio[-4:]
        past = problem(await c.get(url, headers={**admin, "Range": f"bytes={len(audio)}-"}),
                       416)
        assert str(len(audio)) in str(past["detail"])
        etag = part.headers["etag"]
        same = await c.get(url, headers={**admin, "Range": "bytes=0-0", "If-Range": etag})
        assert same.status_code == 206 and same.content == audio[:1]
        changed = await c.get(url, headers={**admin, "Range": "bytes=0-0",
                                            "If-Range": '"other"'})
        assert changed.status_code == 200 and changed.content == audio
        several = await c.get(url, headers={**admin, "Range": "bytes=0-0,5-6"})
        assert several.status_code == 200 and several.content == audio

        # A file changed on disk after it was catalogued is not served under the old digest.
        (api.switch.config.recordings_path / "2023-11-14" / "call-1.wav").write_bytes(b"x")
        problem(await c.get(url, headers=admin), 409)

    run(tmp_path, scenario)


def test_only_an_admin_deletes_a_recording(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        record_call(api, "call-1", "alice", wav_bytes(0.2))
        await files_of(api).index()
        (item,) = (await c.get("/v1/recordings", headers=api.auth("admin"))).json()["items"]
        url = f"/v1/recordings/{item['id']}"
        for who in ("super", "alice"):
            problem(await c.delete(url, headers=api.auth(who)), 403)
        gone = await c.delete(url, headers=api.auth("admin"))
        assert gone.status_code == 204, gone.text
        assert not (api.switch.config.recordings_path / "2023-11-14" / "call-1.wav").exists()
        problem(await c.delete(url, headers=api.auth("admin")), 404)
        problem(await c.get(f"{url}/content", headers=api.auth("admin")), 410)
        meta = (await c.get(url, headers=api.auth("admin"))).json()
        assert meta["deleted_at"] is not None
        assert (await c.get("/v1/recordings", headers=api.auth("admin"))).json()["items"] == []
        entries = audit.query(api.store, tenant="default", target_kind="recording").entries
        assert [(e.actor, e.action, e.target_id) for e in entries] == [
            ("admin@default", "delete", str(item["id"]))]

    run(tmp_path, scenario)


def test_traversal_and_injection_are_refused_naming_the_field(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        record_call(api, "call-1", "alice", wav_bytes(0.2))
        await files_of(api).index()
        for bad in ("..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "1%00", "-1", "0",
                    "1%5C..%5C2", "9" * 40, "1%20OR%201=1"):
            for suffix in ("", "/content"):
                body = problem(await c.get(f"/v1/recordings/{bad}{suffix}", headers=admin),
                               422)
                assert fields(body) == ["path.id"], (bad, body)
        for query in ("agent=%27%20OR%20%271%27=%271", "call_id=x%27%3B%20DROP%20TABLE"
                      "%20stored_files%3B--", "queue=sales%00"):
            found = await c.get(f"/v1/recordings?{query}", headers=admin)
            assert found.status_code == 200 and found.json()["items"] == [], query
        problem(await c.get("/v1/recordings?after=../../x", headers=admin), 422)
        body = problem(await c.get(f"/v1/recordings?agent={'a' * 500}", headers=admin), 422)
        assert fields(body) == ["query.agent"]
        # Still there, untouched.
        assert len((await c.get("/v1/recordings", headers=admin)).json()["items"]) == 1
        prompt = wav_bytes(0.3)
        for bad in ("..%2F..%2Fetc%2Fpasswd.wav", "%2Fetc%2Fpasswd.wav", "a%00.wav",
                    "x" * 200 + ".wav", "..%5C..%5Cwin.wav", "a%5Cb.wav", "%2E%2E", ".hidden.wav",
                    "a%27%3B--.wav", "hello.exe"):
            for method in ("GET", "PUT", "DELETE"):
                response = await c.request(method, f"/v1/prompts/{bad}", headers=admin,
                                           content=prompt if method == "PUT" else None)
                body = problem(response, 422)
                assert fields(body) == ["path.name"], (method, bad, body)
        written = [p for p in api.switch.data_dir.parent.rglob("*")
                   if p.is_file() and p.suffix in (".wav", ".exe")]
        assert [p.name for p in written] == ["call-1.wav"]
        assert (await c.get("/v1/prompts", headers=admin)).json() == []

    run(tmp_path, scenario)


def test_prompts_are_uploaded_checked_listed_and_deleted(tmp_path: Path) -> None:
    greeting = wav_bytes(1.0)

    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        url = "/v1/prompts/welcome.wav"
        created = await c.put(url, content=greeting,
                              headers={**admin, "Content-Type": "audio/wav"})
        assert created.status_code == 201, created.text
        assert created.json()["sha256"] == hashlib.sha256(greeting).hexdigest()
        assert (api.switch.data_dir / "prompts" / "welcome.wav").read_bytes() == greeting
        again = await c.put(url, content=greeting, headers=admin)
        assert again.status_code == 200
        listed = await c.get("/v1/prompts", headers=api.auth("super"))
        assert [(p["name"], p["duration"]) for p in listed.json()] == [("welcome.wav", 1.0)]
        download = await c.get(url, headers=api.auth("super"))
        assert download.status_code == 200 and download.content == greeting
        assert digest_of(download) == hashlib.sha256(download.content).hexdigest()

        for who in ("super", "alice"):
            problem(await c.put(url, content=greeting, headers=api.auth(who)), 403)
            problem(await c.delete(url, headers=api.auth(who)), 403)
        problem(await c.get("/v1/prompts", headers=api.auth("alice")), 403)
        problem(await c.get("/v1/prompts", headers=api.auth("acme")), 404)
        problem(await c.get(url, headers=api.auth("acme")), 404)

        body = problem(await c.put("/v1/prompts/noise.wav", content=b"RIFF" + b"\x00" * 60,
                                   headers=admin), 422)
        assert fields(body) == ["body"]
        body = problem(await c.put("/v1/prompts/noise.ogg", content=greeting,
                                   headers=admin), 422)
        assert fields(body) == ["body"] and "wav" in str(body["detail"])
        assert fields(problem(await c.put("/v1/prompts/empty.wav", content=b"",
                                          headers=admin), 422)) == ["body"]
        body = problem(await c.put("/v1/prompts/a.wav", content=greeting,
                                   headers={**admin, "Content-Type": "text/html"}), 415)
        assert fields(body) == ["header.content-type"]
        files_of(api).config = FilesConfig(prompt_max_mb=0.01)
        body = problem(await c.put("/v1/prompts/big.wav", content=wav_bytes(2.0),
                                   headers=admin), 413)
        assert fields(body) == ["body"]
        assert sorted(p.name for p in (api.switch.data_dir / "prompts").iterdir()) == [
            "welcome.wav"]

        assert (await c.delete(url, headers=admin)).status_code == 204
        problem(await c.delete(url, headers=admin), 404)
        problem(await c.get(url, headers=admin), 404)
        assert (await c.get("/v1/prompts", headers=admin)).json() == []
        entries = audit.query(api.store, tenant="default", target_kind="prompt").entries
        assert [(e.action, e.actor) for e in entries] == [
            ("create", "admin@default"), ("update", "admin@default"),
            ("delete", "admin@default")]

    run(tmp_path, scenario)
