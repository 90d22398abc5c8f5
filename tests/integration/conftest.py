"""Fixtures for the container tests: the Docker engine and the images `make images` built."""

from __future__ import annotations

import pytest

import docker


@pytest.fixture(scope="session")
def engine():
    """The Docker engine (make test starts it with docker/engine.sh before pytest runs)."""
    client = docker.from_env()
    client.ping()
    yield client
    client.close()


def image(engine, tag: str):
    try:
        return engine.images.get(tag)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {tag} is missing: run make images")
