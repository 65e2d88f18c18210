"""Fixtures: real PostgreSQL in systemd containers (see testbed.py for how they are reached).

`pg` is one running host per major (15, 17) shared by the whole session; `pg_all` the same
hosts plus PostgreSQL 18 (forky, best effort: skipped when its image could not be built), for
tests of behaviour that differs by major. `fresh_hosts` starts new hosts for a test that
restarts, breaks or must find an untouched server.
"""

import pytest
from testbed import ALL_IMAGES, IMAGES, docker, image_exists, start_host

_shared = {}


def _shared_host(major):
    """One container per major for the whole session, whichever fixture asks first."""
    if major not in _shared:
        if not image_exists(major):
            pytest.skip("no PostgreSQL %d image (forky is best effort; see scripts/testbed.sh)" % major)
        _shared[major] = start_host(major)
    return _shared[major]


@pytest.fixture(scope="session", autouse=True)
def _remove_shared_hosts():
    yield
    for host in _shared.values():
        docker("rm", "-f", host.name, check=False)


@pytest.fixture(scope="session", params=sorted(IMAGES), ids=lambda major: "pg%d" % major)
def pg(request):
    """A running PostgreSQL host of each major (15, 17), shared by every test of the session."""
    return _shared_host(request.param)


@pytest.fixture(scope="session", params=sorted(ALL_IMAGES), ids=lambda major: "pg%d" % major)
def pg_all(request):
    """As `pg`, with PostgreSQL 18 too (the same shared hosts)."""
    return _shared_host(request.param)


@pytest.fixture
def fresh_hosts(request):
    """Start new hosts for a test that restarts or breaks them; removed afterwards.

    Use as ``fresh_hosts(15, 17)`` or ``fresh_hosts(15, repo=path)``.
    """
    started = []

    def start(*majors, repo=None, docker_args=""):
        for major in majors:
            if not image_exists(major):
                pytest.skip("no PostgreSQL %d image (forky is best effort; see scripts/testbed.sh)" % major)
        hosts = [start_host(major, repo=repo, docker_args=docker_args) for major in majors]
        started.extend(hosts)
        return hosts

    yield start
    for host in started:
        docker("rm", "-f", host.name, check=False)
