"""CIS 4.8 on a real host with Debian's set_user package (postgresql-15-set-user on bookworm,
postgresql-17-set-user on trixie, served by the test bed's local repository).

Installed only, the check fails and says what is missing; preloaded and created, it passes. The
shared host gets its preload list back (and a restart) at the end.
"""

import pytest
from pgaudit_testlib import ensure_pgaudit_loaded, restart, running_libraries, set_libraries, succeeded

from ansible_collections.pgtrail.audit.plugins.plugin_utils.compliance import evaluate


def cis_4_8(pg):
    facts = succeeded(pg.module("audit_info", dict(databases=["postgres"], verify_chain=False)))
    return next(r for r in evaluate(facts) if r["id"] == "CIS-4.8")


def test_set_user_installed_preloaded_and_created_passes_cis_4_8(pg):
    package = "postgresql-%d-set-user" % pg.major
    if pg.sh("apt-cache show %s" % package, check=False).returncode != 0:
        pytest.skip("%s is not in the image's local repository yet (scripts/testbed.sh images rebuilds it)" % package)
    ensure_pgaudit_loaded(pg)
    pg.sh("apt-get install -y -qq %s >/dev/null" % package)
    before = running_libraries(pg)
    try:
        result = cis_4_8(pg)
        assert result["status"] == "fail", result
        assert "not in the running shared_preload_libraries" in result["reason"], result
        assert "CREATE EXTENSION set_user was not run" in result["reason"], result
        set_libraries(pg, before + ["set_user"])
        restart(pg)
        pg.psql("CREATE EXTENSION IF NOT EXISTS set_user")
        result = cis_4_8(pg)
        assert (result["status"], result["reason"]) == ("pass", "set_user is preloaded and created in postgres")
    finally:
        pg.psql("DROP EXTENSION IF EXISTS set_user")
        if running_libraries(pg) != before:
            set_libraries(pg, before)
            restart(pg)
