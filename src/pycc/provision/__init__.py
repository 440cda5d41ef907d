"""``pycc apply``: a tenant's call center declared in one YAML file (DESIGN.md).

:mod:`~pycc.provision.source` reads the YAML with the line and column of every field,
:mod:`~pycc.provision.schema` validates it into a `CallCenterSpec` reporting every error at
once, :mod:`~pycc.provision.sync` makes the database match it in one transaction and reads it
back for a running switch, :mod:`~pycc.provision.command` is the CLI command.
"""

from __future__ import annotations

from pycc.provision.command import apply_file
from pycc.provision.schema import (
    AgentSpec,
    CallCenterSpec,
    Destination,
    DidSpec,
    ExtensionSpec,
    IvrSpec,
    QueueSpec,
    TrunkSpec,
    validate,
)
from pycc.provision.source import ApplyError, Source, load_file
from pycc.provision.source import load as load_source
from pycc.provision.sync import ApplyResult, StoredConfigError, apply, load, version

__all__ = [
    "AgentSpec",
    "ApplyError",
    "ApplyResult",
    "CallCenterSpec",
    "Destination",
    "DidSpec",
    "ExtensionSpec",
    "IvrSpec",
    "QueueSpec",
    "Source",
    "StoredConfigError",
    "TrunkSpec",
    "apply",
    "apply_file",
    "load",
    "load_file",
    "load_source",
    "validate",
    "version",
]
