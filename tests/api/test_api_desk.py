"""The agent desktop's records through the API: customers looked up by any way of writing
their number, tickets with comments, the knowledge base (agents read it only); every bad
field named, pages that end, and another tenant's records out of reach. Random customer
bodies never make the server fail."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.test_api_core import Api, fields, problem, run


async def post(api: Api, path: str, body: object, who: str = "admin") -> dict[str, Any]:
    response = await api.client.post(path, json=body, headers=api.auth(who))
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def get(api: Api, path: str, who: str = "admin", **params: str | int) -> Any:
    response = await api.client.get(path, params=params, headers=api.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


async def field_problem(response: httpx.Response) -> list[str]:
    return fields(problem(response, 422))


async def pages(api: Api, path: str, limit: int, who: str = "admin",
                **params: str | int) -> list[list[Any]]:
    """Every page of a list, following ``next`` to the end."""
    found: list[list[Any]] = []
    cursor: str | None = None
    while True:
        query = dict(params, limit=limit) | ({"after": cursor} if cursor else {})
        page = await get(api, path, who, **query)
        found.append(page["items"])
        cursor = page["next"]
        if cursor is None:
            return found
        assert len(found) < 50, "the pages never end"


# -- customers -------------------------------------------------------------------------------


def test_customers_are_stored_changed_and_found_by_number_or_text(
        tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        ann = await post(api, "/v1/customers", {
            "name": "Ann Lee", "phones": ["+1 (555) 010-0001", "020 7946 0958"],
            "email": "ann@example.com", "company": "Großhandel GmbH",
            "notes": "prefers mornings", "fields": {"plan": "gold"}}, who="alice")
        assert ann["name"] == "Ann Lee" and ann["phones"] == ["+1 (555) 010-0001",
                                                               "020 7946 0958"]
        assert (ann["email"], ann["company"], ann["notes"], ann["fields"]) == (
            "ann@example.com", "Großhandel GmbH", "prefers mornings", {"plan": "gold"})
        assert ann["created"] == ann["updated"] > 0 and isinstance(ann["id"], int)
        bob = await post(api, "/v1/customers", {"name": "Bob", "phones": ["555 0100"]})
        assert (bob["email"], bob["company"], bob["notes"], bob["fields"]) == (
            None, None, "", {})
        assert await get(api, f"/v1/customers/{ann['id']}", "bob") == ann

        # The caller's number, however it is written, finds the customer and only it.
        for written in ("+15550100001", "+1 555-010-0001", " +1.555.010.0001"):
            found = await get(api, "/v1/customers", phone=written)
            assert [x["id"] for x in found["items"]] == [ann["id"]], written
            assert found["next"] is None
        assert (await get(api, "/v1/customers", phone="15550100001"))["items"] == []
        assert [x["id"] for x in (await get(api, "/v1/customers",
                                            phone="(555) 0100"))["items"]] == [bob["id"]]

        # Text: name, company, e-mail, a phone as written or normalised; any case.
        for text in ("ann l", "GROSSHANDEL", "@EXAMPLE.", "7946 0958", "5550100001"):
            found = await get(api, "/v1/customers", q=text)
            assert [x["id"] for x in found["items"]] == [ann["id"]], text
        for text in ("mornings", "gold", "lee groß", "%", "_"):
            found = await get(api, "/v1/customers", q=text)
            assert found["items"] == [], text
        both = await get(api, "/v1/customers", q="b", phone="555-0100")
        assert [x["id"] for x in both["items"]] == [bob["id"]]

        # A change keeps what it does not name; new phones replace the old in lookups.
        changed = await c.patch(f"/v1/customers/{ann['id']}",
                                json={"phones": ["+44 20 7946 0000"], "email": None},
                                headers=api.auth("alice"))
        assert changed.status_code == 200, changed.text
        after = changed.json()
        assert (after["name"], after["phones"], after["email"], after["company"]) == (
            "Ann Lee", ["+44 20 7946 0000"], None, "Großhandel GmbH")
        assert after["updated"] >= ann["updated"] and after["created"] == ann["created"]
        assert (await get(api, "/v1/customers", phone="+15550100001"))["items"] == []
        assert [x["id"] for x in (await get(api, "/v1/customers",
                                            phone="+442079460000"))["items"]] == [ann["id"]]
        assert (await get(api, "/v1/customers", q="@example"))["items"] == []
        problem(await c.get("/v1/customers/999999", headers=api.auth("admin")), 404)
        problem(await c.patch("/v1/customers/999999", json={"name": "X"},
                              headers=api.auth("admin")), 404)

    run(tmp_path, scenario, db_url)


def test_customer_pages_follow_each_other_to_the_end(tmp_path: Path,
                                                     db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        made = [(await post(api, "/v1/customers", {"name": f"Page {i}"}))["id"]
                for i in range(5)]
        await post(api, "/v1/customers", {"name": "Other"})
        found = await pages(api, "/v1/customers", 2, q="page")
        assert [len(p) for p in found] == [2, 2, 1]
        assert [x["id"] for p in found for x in p] == made
        # Exactly a page's worth: the page that is full is the last.
        found = await pages(api, "/v1/customers", 3, q="page 1")
        assert [len(p) for p in found] == [1]
        everyone = await pages(api, "/v1/customers", 1000)
        assert len(everyone) == 1 and len(everyone[0]) == 6
        body = problem(await api.client.get("/v1/customers", params={"after": "junk"},
                                            headers=api.auth("admin")), 422)
        assert fields(body) == ["query.after"]
        body = problem(await api.client.get("/v1/customers", params={"limit": 0},
                                            headers=api.auth("admin")), 422)
        assert fields(body) == ["query.limit"]

    run(tmp_path, scenario, db_url)


BAD_CUSTOMERS: list[tuple[object, str]] = [
    ({}, "body.name"),
    ({"name": ""}, "body.name"),
    ({"name": "   "}, "body.name"),
    ({"name": "x" * 121}, "body.name"),
    ({"name": "tab\there"}, "body.name"),
    ({"name": "Ann", "phones": ["1"] * 6}, "body.phones"),
    ({"name": "Ann", "phones": "5550100"}, "body.phones"),
    ({"name": "Ann", "phones": ["555 0100", "12"]}, "body.phones.1"),
    ({"name": "Ann", "phones": ["555-CALL-NOW"]}, "body.phones.0"),
    ({"name": "Ann", "phones": ["555 0100", "5550100"]}, "body.phones.1"),
    ({"name": "Ann", "phones": ["9" * 33]}, "body.phones.0"),
    ({"name": "Ann", "email": "not an address"}, "body.email"),
    ({"name": "Ann", "email": "ann@localhost"}, "body.email"),
    ({"name": "Ann", "company": "c" * 201}, "body.company"),
    ({"name": "Ann", "notes": "n" * 5001}, "body.notes"),
    ({"name": "Ann", "fields": {f"f{i}": "v" for i in range(31)}}, "body.fields"),
    ({"name": "Ann", "fields": {"k" * 41: "v"}}, "body.fields." + "k" * 41),
    ({"name": "Ann", "fields": {"plan": "v" * 501}}, "body.fields.plan"),
    ({"name": "Ann", "fields": {"plan": 3}}, "body.fields.plan"),
    ({"name": "Ann", "fields": {"plan": "a\x00"}}, "body.fields.plan"),
    ({"name": "Ann", "fields": {"a\x00": "v"}}, "body.fields.a\\u0000"),
    ([{"name": "Ann"}], "body"),
]


def test_every_bad_customer_field_is_named(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        wrong = []
        for body, field in BAD_CUSTOMERS:
            response = await c.post("/v1/customers", json=body, headers=admin)
            got = fields(problem(response, 422))
            if got != [field]:
                wrong.append(f"{body!r:.80}: {got} instead of {field}")
        assert not wrong, "\n".join(wrong)
        made = await post(api, "/v1/customers", {"name": "Ann", "phones": ["5550100"]})
        path = f"/v1/customers/{made['id']}"
        for body, field in [({"name": None}, "body.name"), ({"phones": None}, "body.phones"),
                            ({"notes": None}, "body.notes"),
                            ({"phones": ["5550100", "555 0100"]}, "body.phones.1"),
                            ({"email": "x@"}, "body.email")]:
            got = await field_problem(await c.patch(path, json=body, headers=admin))
            assert got == [field], body
        # Nothing of a refused change was kept.
        assert (await get(api, path))["phones"] == ["5550100"]
        for params, field in [({"phone": "abc"}, "query.phone"), ({"phone": "12"}, "query.phone"),
                              ({"q": ""}, "query.q"), ({"q": "q" * 201}, "query.q")]:
            got = await field_problem(await c.get("/v1/customers", params=params,
                                                  headers=admin))
            assert got == [field], params
        for path in ("/v1/customers/0", "/v1/customers/x", f"/v1/customers/{2**63}"):
            assert (await field_problem(await c.get(path, headers=admin))) == [
                "path.customer_id"], path

    run(tmp_path, scenario)


#: Any text JSON can carry: lone surrogates and control characters too, which no database
#: stores as text.
ANY_TEXT = st.text(st.characters(exclude_categories=())) | st.text().map(
    lambda t: t + "\ud800") | st.text().map(lambda t: "\x00" + t)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                          allow_infinity=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                max_size=4),
    max_leaves=8)
PHONES = st.lists(st.text(alphabet="0123456789 +-().x", max_size=34), max_size=6)
TEXT = st.text(st.characters(codec="utf-8").filter(lambda c: unicodedata.category(c) != "Cc"),
               max_size=30)
CUSTOMER_BODIES = st.one_of(
    JSON,
    # Mostly well-formed: the checks past the types get their share.
    st.fixed_dictionaries({"name": TEXT | ANY_TEXT}, optional={
        "phones": st.lists(st.from_regex(r"\+?[0-9][0-9 ()-]{2,20}", fullmatch=True),
                           max_size=5),
        "email": st.emails() | st.none(),
        "company": TEXT | ANY_TEXT | st.none(),
        "notes": st.text(max_size=100) | ANY_TEXT,
        "fields": st.dictionaries(TEXT | ANY_TEXT, TEXT | ANY_TEXT, max_size=5),
    }),
    st.fixed_dictionaries({}, optional={
        "name": st.text(max_size=125) | ANY_TEXT | JSON,
        "phones": PHONES | JSON,
        "email": st.emails() | st.text(max_size=20) | JSON,
        "company": st.text(max_size=30) | JSON,
        "notes": st.text() | JSON,
        "fields": st.dictionaries(st.text(max_size=42), st.text(max_size=20) | ANY_TEXT,
                                  max_size=32) | JSON,
    }))


def test_random_customer_bodies_are_stored_or_refused_never_a_failure(
        tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        loop = asyncio.get_running_loop()
        headers = api.auth("alice") | {"Content-Type": "application/json"}
        outcomes: set[int] = set()

        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(body=CUSTOMER_BODIES)
        # One body of each outcome always runs: random bodies alone may all be refused.
        @example(body={"name": "Ann Example", "phones": ["+12125550142"]})
        @example(body={"name": "   "})
        def posted(body: object) -> None:
            # ensure_ascii: lone surrogates go as \\u escapes, as any JSON client may send.
            request = api.client.post("/v1/customers", content=json.dumps(body),
                                      headers=headers)
            response = asyncio.run_coroutine_threadsafe(request, loop).result(timeout=30)
            assert response.status_code in (201, 422), response.text
            outcomes.add(response.status_code)
            if response.status_code == 201:
                made = response.json()
                assert made["name"] == made["name"].strip() != ""
            else:
                assert fields(response.json()), response.text

        await asyncio.to_thread(posted)
        assert outcomes == {201, 422}

    run(tmp_path, scenario, db_url)


# -- tickets ---------------------------------------------------------------------------------


def test_tickets_with_comments_filters_and_pages(tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        ann = await post(api, "/v1/customers", {"name": "Ann"})
        first = await post(api, "/v1/tickets", {
            "subject": "Refund for order 12", "body": "Charged twice.", "customer": ann["id"],
            "call": "c-1", "assignee": "alice", "priority": "high"}, who="bob")
        assert {k: first[k] for k in ("subject", "body", "status", "priority", "customer",
                                      "call", "assignee", "created_by")} == {
            "subject": "Refund for order 12", "body": "Charged twice.", "status": "open",
            "priority": "high", "customer": ann["id"], "call": "c-1", "assignee": "alice",
            "created_by": "bob"}
        assert "comments" not in first
        second = await post(api, "/v1/tickets", {"subject": "Address change"})
        assert (second["priority"], second["customer"], second["call"], second["assignee"],
                second["body"], second["created_by"]) == ("normal", None, None, None, "",
                                                          "admin")
        third = await post(api, "/v1/tickets", {"subject": "Another refund",
                                                "assignee": "bob"}, who="super")

        def ids(page: dict[str, Any]) -> list[int]:
            return [t["id"] for t in page["items"]]

        everything = await get(api, "/v1/tickets")
        assert ids(everything) == [third["id"], second["id"], first["id"]]
        assert ids(await get(api, "/v1/tickets", "alice", assignee="me")) == [first["id"]]
        assert ids(await get(api, "/v1/tickets", assignee="bob")) == [third["id"]]
        assert ids(await get(api, "/v1/tickets", customer=ann["id"])) == [first["id"]]
        assert ids(await get(api, "/v1/tickets", q="REFUND")) == [third["id"], first["id"]]
        assert ids(await get(api, "/v1/tickets", q="twice")) == [first["id"]]
        assert ids(await get(api, "/v1/tickets", status="solved")) == []
        found = await pages(api, "/v1/tickets", 2)
        assert [[t["id"] for t in p] for p in found] == [[third["id"], second["id"]],
                                                         [first["id"]]]

        # Comments by whoever writes them, in order, on the ticket only.
        note = await post(api, f"/v1/tickets/{first['id']}/comments",
                          {"body": "Called the bank."}, who="alice")
        assert (note["author"], note["body"]) == ("alice", "Called the bank.")
        await post(api, f"/v1/tickets/{first['id']}/comments", {"body": "Refunded."})
        one = await get(api, f"/v1/tickets/{first['id']}", "bob")
        assert [(x["author"], x["body"]) for x in one["comments"]] == [
            ("alice", "Called the bank."), ("admin", "Refunded.")]
        assert one["comments"][0] == note and one["updated"] >= note["at"]
        assert (await get(api, f"/v1/tickets/{second['id']}"))["comments"] == []

        # Changes: what is sent, nothing else; a null assignee leaves it to no one.
        changed = await c.patch(f"/v1/tickets/{first['id']}",
                                json={"status": "solved", "assignee": None},
                                headers=api.auth("alice"))
        assert changed.status_code == 200, changed.text
        assert (changed.json()["status"], changed.json()["assignee"],
                changed.json()["priority"], changed.json()["subject"]) == (
            "solved", None, "high", "Refund for order 12")
        assert ids(await get(api, "/v1/tickets", status="solved")) == [first["id"]]
        changed = await c.patch(f"/v1/tickets/{second['id']}",
                                json={"subject": "Moved house", "assignee": "super",
                                      "priority": "urgent"}, headers=api.auth("admin"))
        assert (changed.json()["subject"], changed.json()["assignee"],
                changed.json()["priority"], changed.json()["status"]) == (
            "Moved house", "super", "urgent", "open")
        assert ids(await get(api, "/v1/tickets", q="moved")) == [second["id"]]
        assert ids(await get(api, "/v1/tickets", q="address")) == []

        problem(await c.get("/v1/tickets/999999", headers=api.auth("admin")), 404)
        problem(await c.patch("/v1/tickets/999999", json={"status": "open"},
                              headers=api.auth("admin")), 404)
        problem(await c.post("/v1/tickets/999999/comments", json={"body": "x"},
                             headers=api.auth("admin")), 404)

    run(tmp_path, scenario, db_url)


def test_every_bad_ticket_field_is_named(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        theirs = await api.client.post("/v1/customers", json={"name": "Acme's"},
                                       headers=api.auth("acme"))
        cases: list[tuple[object, str]] = [
            ({}, "body.subject"),
            ({"subject": ""}, "body.subject"),
            ({"subject": " "}, "body.subject"),
            ({"subject": "s" * 201}, "body.subject"),
            ({"subject": "s", "body": "b" * 10_001}, "body.body"),
            ({"subject": "s", "customer": 999999}, "body.customer"),
            ({"subject": "s", "customer": theirs.json()["id"]}, "body.customer"),
            ({"subject": "s", "customer": 0}, "body.customer"),
            ({"subject": "s", "customer": 2**63}, "body.customer"),
            ({"subject": "s", "assignee": "nobody"}, "body.assignee"),
            ({"subject": "s", "assignee": "acme"}, "body.assignee"),
            ({"subject": "s", "call": ""}, "body.call"),
            ({"subject": "s", "priority": "asap"}, "body.priority"),
        ]
        for body, field in cases:
            got = await field_problem(await c.post("/v1/tickets", json=body, headers=admin))
            assert got == [field], body
        made = await post(api, "/v1/tickets", {"subject": "s"})
        path = f"/v1/tickets/{made['id']}"
        for body, field in [({"status": "done"}, "body.status"),
                            ({"priority": "asap"}, "body.priority"),
                            ({"subject": ""}, "body.subject"),
                            ({"subject": None}, "body.subject"),
                            ({"assignee": "nobody"}, "body.assignee")]:
            got = await field_problem(await c.patch(path, json=body, headers=admin))
            assert got == [field], body
        for body, field in [({"body": ""}, "body.body"), ({"body": " \n"}, "body.body"),
                            ({"body": "c" * 5001}, "body.body"), ({}, "body.body")]:
            got = await field_problem(await c.post(f"{path}/comments", json=body,
                                                   headers=admin))
            assert got == [field], body
        for params, field in [({"status": "done"}, "query.status"),
                              ({"customer": "x"}, "query.customer"),
                              ({"assignee": ""}, "query.assignee"),
                              ({"q": "a\x01"}, "query.q")]:
            got = await field_problem(await c.get("/v1/tickets", params=params,
                                                  headers=admin))
            assert got == [field], params
        assert (await get(api, path))["status"] == "open"

    run(tmp_path, scenario)


# -- knowledge base --------------------------------------------------------------------------


def test_the_knowledge_base_is_written_by_supervisors_and_read_by_agents(
        tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        refunds = await post(api, "/v1/kb", {"title": "Refunds", "body": "Check the order.",
                                             "tags": ["billing", "Money"]}, who="super")
        assert (refunds["title"], refunds["body"], refunds["tags"], refunds["author"]) == (
            "Refunds", "Check the order.", ["billing", "Money"], "super")
        moving = await post(api, "/v1/kb", {"title": "Moving house"})
        assert (moving["body"], moving["tags"], moving["author"]) == ("", [], "admin")

        # Agents read and search it, but may not write it.
        assert await get(api, f"/v1/kb/{refunds['id']}", "alice") == refunds
        assert [a["id"] for a in (await get(api, "/v1/kb", "alice"))["items"]] == [
            refunds["id"], moving["id"]]
        for text, expected in (("money", [refunds["id"]]), ("ORDER", [refunds["id"]]),
                               ("house", [moving["id"]]), ("r", [refunds["id"]]),
                               ("cheque", [])):
            found = await get(api, "/v1/kb", "bob", q=text)
            assert [a["id"] for a in found["items"]] == expected, text
        problem(await c.post("/v1/kb", json={"title": "Mine"}, headers=api.auth("alice")), 403)
        problem(await c.patch(f"/v1/kb/{refunds['id']}", json={"title": "Mine"},
                              headers=api.auth("alice")), 403)
        problem(await c.delete(f"/v1/kb/{refunds['id']}", headers=api.auth("alice")), 403)

        changed = await c.patch(f"/v1/kb/{refunds['id']}", json={"tags": ["returns"]},
                                headers=api.auth("super"))
        assert changed.status_code == 200, changed.text
        assert (changed.json()["title"], changed.json()["tags"]) == ("Refunds", ["returns"])
        assert (await get(api, "/v1/kb", q="money"))["items"] == []
        assert [a["id"] for a in (await get(api, "/v1/kb", q="RETURNS"))["items"]] == [
            refunds["id"]]
        found = await pages(api, "/v1/kb", 1)
        assert [[a["id"] for a in p] for p in found] == [[refunds["id"]], [moving["id"]]]

        for body, field in [({}, "body.title"), ({"title": ""}, "body.title"),
                            ({"title": "t" * 201}, "body.title"),
                            ({"title": "t", "body": "b" * 50_001}, "body.body"),
                            ({"title": "t", "tags": ["x"] * 21}, "body.tags"),
                            ({"title": "t", "tags": ["t" * 41]}, "body.tags.0"),
                            ({"title": "t", "tags": ["a", " "]}, "body.tags.1"),
                            ({"title": "t", "tags": ["a", "a"]}, "body.tags.1")]:
            got = await field_problem(await c.post("/v1/kb", json=body,
                                                   headers=api.auth("admin")))
            assert got == [field], body
        got = await field_problem(await c.patch(f"/v1/kb/{moving['id']}",
                                                json={"title": None},
                                                headers=api.auth("admin")))
        assert got == ["body.title"]

        assert (await c.delete(f"/v1/kb/{moving['id']}",
                               headers=api.auth("admin"))).status_code == 204
        problem(await c.get(f"/v1/kb/{moving['id']}", headers=api.auth("admin")), 404)
        problem(await c.delete(f"/v1/kb/{moving['id']}", headers=api.auth("admin")), 404)
        problem(await c.patch(f"/v1/kb/{moving['id']}", json={"title": "x"},
                              headers=api.auth("admin")), 404)

    run(tmp_path, scenario, db_url)


# -- tenants ---------------------------------------------------------------------------------


def test_another_tenant_s_records_are_not_found(tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c, acme = api.client, api.auth("acme")
        ann = await post(api, "/v1/customers", {"name": "Ann", "phones": ["+15550100001"]})
        ticket = await post(api, "/v1/tickets", {"subject": "Refund"})
        article = await post(api, "/v1/kb", {"title": "Refunds"})
        for path in (f"/v1/customers/{ann['id']}", f"/v1/tickets/{ticket['id']}",
                     f"/v1/kb/{article['id']}"):
            problem(await c.get(path, headers=acme), 404)
            problem(await c.patch(path, json={}, headers=acme), 404)
        problem(await c.post(f"/v1/tickets/{ticket['id']}/comments", json={"body": "x"},
                             headers=acme), 404)
        problem(await c.delete(f"/v1/kb/{article['id']}", headers=acme), 404)
        for path, params in (("/v1/customers", {}), ("/v1/customers", {"phone": "+15550100001"}),
                             ("/v1/customers", {"q": "ann"}), ("/v1/tickets", {}),
                             ("/v1/kb", {})):
            assert (await get(api, path, "acme", **params))["items"] == [], (path, params)
        # Acme's own records are acme's; the same number is another customer there.
        theirs = await post(api, "/v1/customers", {"name": "Ann B", "phones": ["+1 555 010 0001"]},
                            who="acme")
        found = await get(api, "/v1/customers", "acme", phone="+15550100001")
        assert [x["id"] for x in found["items"]] == [theirs["id"]]
        found = await get(api, "/v1/customers", phone="+15550100001")
        assert [x["id"] for x in found["items"]] == [ann["id"]]
        # Untouched by any of acme's attempts.
        assert (await get(api, f"/v1/kb/{article['id']}"))["title"] == "Refunds"

    run(tmp_path, scenario, db_url)
