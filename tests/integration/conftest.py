"""Fixtures: real PostgreSQL in systemd containers (see testbed.py for how they are reached).

`pg` is one running host per major shared by the whole session; `fresh_hosts` starts new hosts
for a test that restarts, breaks or must find an untouched server.
"""

import pytest
from testbed import IMAGES, docker, start_host


@pytest.fixture(scope="session", params=sorted(IMAGES), ids=lambda major: "pg%d" % major)
def pg(request):
    """A running PostgreSQL host of each major, shared by every test of the session."""
    host = start_host(request.param)
    yield host
    docker("rm", "-f", host.name, check=False)


@pytest.fixture
def fresh_hosts(request):
    """Start new hosts for a test that restarts or breaks them; removed afterwards.

    Use as ``fresh_hosts(15, 17)`` or ``fresh_hosts(15, repo=path)``.
    """
    started = []

    def start(*majors, repo=None, docker_args=""):
        hosts = [start_host(major, repo=repo, docker_args=docker_args) for major in majors]
        started.extend(hosts)
        return hosts

    yield start
    for host in started:
        docker("rm", "-f", host.name, check=False)
