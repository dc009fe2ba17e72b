from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aio_testutil import Upstream, load_aio  # noqa: E402


@pytest.fixture(scope="session")
def aio():
    module = load_aio()
    yield module
    module.shutdown()


@pytest.fixture
def upstream():
    server = Upstream(delay=0.1).start()
    try:
        yield server
    finally:
        server.stop()
