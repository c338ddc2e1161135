from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.redis_support import redis_server  # noqa: F401 - the Redis tests' fixture

_CONTRACT_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
    "DEEPGRAM_API_KEY",
    "DEEPGRAM_BASE_URL",
    "PLAYGROUND_API_TOKEN",
    "AZURE_OPENAI_AD_TOKEN",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
)


@pytest.fixture(scope="session", autouse=True)
def scratch_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Where ``tests.support`` puts its per-services files: under pytest's own temporary
    folders, which pytest prunes, rather than loose in /tmp."""
    os.environ["SP_TEST_SCRATCH"] = str(tmp_path_factory.mktemp("scratch"))
    yield
    del os.environ["SP_TEST_SCRATCH"]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach a real API: strip every key and endpoint, and keep loopback unproxied."""
    for name in _CONTRACT_VARS:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("PLAYGROUND_"):
            monkeypatch.delenv(name, raising=False)
    # Each test its own notebook file: runs recorded by one test never show up in another.
    monkeypatch.setenv("PLAYGROUND_NOTEBOOK_DB", str(tmp_path / "notebooks.sqlite3"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh_fake_replies(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module shares one fake upstream; a test that fails before its queued replies are used
    would leave them for the next test, whose answers would then be wrong. Forget them after
    every test, so one failure stays one failure."""
    fakes = [
        value
        for name in ("fake", "fake_openai")
        if name in request.fixturenames
        and isinstance(value := request.getfixturevalue(name), FakeOpenAI)
    ]
    yield
    for fake in fakes:
        fake.forget_replies()
