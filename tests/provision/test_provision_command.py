"""``pycc apply FILE``: what the operator sees, and the exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycc.config import SwitchConfig
from pycc.provision.command import apply_file
from pycc.provision.sync import load, version
from pycc.store import Store, make_url


class Console:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []


def run(path: Path, cfg: SwitchConfig, *, dry_run: bool = False,
        now: float = 1_700_000_000.0) -> tuple[int, Console]:
    console = Console()
    code = apply_file(path, cfg, dry_run=dry_run, out=console.out.append,
                      err=console.err.append, clock=lambda: now)
    return code, console


@pytest.fixture
def cfg(tmp_path: Path) -> SwitchConfig:
    data = tmp_path / "data"
    data.mkdir()
    return SwitchConfig(data_dir=data)


def open_store(cfg: SwitchConfig) -> Store:
    store = Store(make_url(cfg.data_dir, cfg.db_url))
    store.create_all()
    return store


def write(tmp_path: Path, text: str, name: str = "cc.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_applies_then_reports_no_changes(cfg: SwitchConfig,
                                                     example_text: str,
                                                     tmp_path: Path) -> None:
    path = write(tmp_path, example_text)
    code, console = run(path, cfg)
    assert (code, console.err) == (0, [])
    assert console.out[:3] == ["created tenant default", "created extension 1001",
                               "created extension 1002"]
    assert {"created queue sales", "created route outside", "created blacklist",
            "created limits", "created ivr main"} <= set(console.out)
    code, console = run(path, cfg)
    assert (code, console.out, console.err) == (0, ["no changes"], [])
    with open_store(cfg) as store:
        assert version(store, "default") == 1
        spec = load(store, "default")
        assert spec is not None and [q.name for q in spec.queues] == ["sales", "support"]


def test_errors_are_printed_each_with_its_place_and_nothing_is_written(
        cfg: SwitchConfig, tmp_path: Path) -> None:
    path = write(tmp_path, "queues:\n  - name: sales\n    wrapup: -2\n"
                           "routes:\n  - {match: '1', to: {queue: nowhere}}\n")
    code, console = run(path, cfg)
    assert code == 1 and console.out == []
    assert console.err == [
        f"{path}:3:5: queues[0].wrapup: must be >= 0, not -2",
        f"{path}:5:23: routes[0].to.queue: there is no queue 'nowhere'",
    ]
    with open_store(cfg) as store:
        assert store.list_tenants() == []


def test_a_yaml_error_and_a_missing_file_are_one_line_each(cfg: SwitchConfig,
                                                           tmp_path: Path) -> None:
    path = write(tmp_path, "queues:\n  - name: a\n  name: b\n")
    code, console = run(path, cfg)
    assert code == 1 and len(console.err) == 1
    assert console.err[0].startswith(f"{path}:3:3: YAML syntax error: ")
    code, console = run(tmp_path / "absent.yaml", cfg)
    assert code == 1
    assert console.err[0].startswith(f"{tmp_path / 'absent.yaml'}: cannot read the file")


def test_a_dry_run_says_what_would_change(cfg: SwitchConfig, tmp_path: Path) -> None:
    path = write(tmp_path, "queues: [{name: sales}, {name: support}]\n")
    code, console = run(path, cfg, dry_run=True)
    assert code == 0
    assert console.out == ["would create tenant default", "would create queue sales",
                           "would create queue support", "dry run: nothing written"]
    with open_store(cfg) as store:
        assert store.list_tenants() == []
    run(path, cfg)
    code, console = run(write(tmp_path, "queues: [{name: sales, wrapup: 9}]\n"), cfg,
                        dry_run=True)
    assert console.out == ["would update queue sales", "would delete queue support",
                           "dry run: nothing written"]


def test_the_switch_tenant_and_realm_are_the_defaults(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = SwitchConfig(data_dir=data, tenant="acme", realm="acme.test")
    code, _ = run(write(tmp_path, "extensions: [{number: '1', password: password1}]\n"), cfg)
    assert code == 0
    with open_store(cfg) as store:
        tenant = store.get_tenant("acme")
        assert tenant is not None and tenant.realm == "acme.test"
    # Another tenant, created by the file, gets its own name as realm.
    code, _ = run(write(tmp_path, "tenant: other\nlimits: {calls: 2}\n"), cfg)
    with open_store(cfg) as store:
        other = store.get_tenant("other")
        assert code == 0 and other is not None and other.realm == "other"


def test_a_realm_change_is_refused_at_the_realm_line(cfg: SwitchConfig,
                                                     tmp_path: Path) -> None:
    assert run(write(tmp_path, "limits: {calls: 2}\n"), cfg)[0] == 0
    path = write(tmp_path, "limits: {calls: 3}\nrealm: elsewhere\n")
    code, console = run(path, cfg)
    assert code == 1
    assert console.err == [f"{path}:2:1: realm: tenant 'default' has realm 'pycc'; changing "
                           "it would invalidate every stored password hash"]
    with open_store(cfg) as store:
        spec = load(store, "default")
        assert spec is not None and spec.limits is not None and spec.limits.calls == 2


def test_a_partial_file_may_name_what_is_stored(cfg: SwitchConfig, tmp_path: Path) -> None:
    assert run(write(tmp_path, "queues: [{name: sales}]\n"), cfg)[0] == 0
    code, console = run(write(tmp_path, "routes: [{match: '8000', to: {queue: sales}}]\n"),
                        cfg)
    assert (code, console.out) == (0, ["created route 8000"])


def test_an_unusable_database_is_one_error_line(tmp_path: Path) -> None:
    cfg = SwitchConfig(data_dir=tmp_path / "does" / "not" / "exist")
    code, console = run(write(tmp_path, "limits: {calls: 1}\n"), cfg)
    assert code == 1 and len(console.err) == 1
    assert console.err[0].startswith("pycc: error: ")
