"""Media settings of ``pycc.toml`` reach the running switch's media server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from peers.net import free_port
from pycc.codecs import find
from pycc.codecs.opus import OpusCodec
from pycc.config import ConfigError, SwitchConfig
from pycc.store import Store, make_url
from pycc.switch import Switch


def _config(tmp_path: Path, **settings: object) -> SwitchConfig:
    data = tmp_path / "data"
    data.mkdir()
    with Store(make_url(data, None)) as store:
        store.create_all()
        store.ensure_tenant("default", "pycc")
    first = free_port("udp", count=8)
    return SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                        secret="media-settings-nonce-secret", media_workers=0,
                        rtp_ports=f"{first}-{first + 7}", **settings)  # type: ignore[arg-type]


@pytest.fixture
def opus() -> Iterator[OpusCodec]:
    """The process's Opus codec, its complexity put back afterwards (a setting is global)."""
    codec = find("opus", 48000, 2)
    assert isinstance(codec, OpusCodec)
    before = codec.complexity
    yield codec
    codec.complexity = before


def test_opus_complexity_applies_to_the_switchs_opus_encoders(tmp_path: Path,
                                                              opus: OpusCodec) -> None:
    async def main() -> None:
        async with Switch(_config(tmp_path, opus_complexity=2)):
            assert opus.complexity == 2
            # What a transcoder towards an Opus phone encodes with.
            assert opus.at_rate(8000).encoder(20).complexity == 2

    asyncio.run(main())


def test_an_opus_complexity_outside_0_to_10_stops_the_start(tmp_path: Path,
                                                            opus: OpusCodec) -> None:
    before = opus.complexity

    async def main() -> None:
        async with Switch(_config(tmp_path, opus_complexity=12)):
            pass

    with pytest.raises(ConfigError, match="opus_complexity: expected a whole number"):
        asyncio.run(main())
    assert opus.complexity == before
