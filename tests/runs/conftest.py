"""The PostgreSQL server `.ci/run` starts, for the batch and runs tests that use it."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("CHUNKWISE_TEST_POSTGRES")
    if not url:
        pytest.skip("CHUNKWISE_TEST_POSTGRES is unset (scripts/test.sh starts PostgreSQL)")
    return url
