"""Where the playbooks keep their files by default: never inside an inventory directory, which
Ansible would read (a report there became a host named "{" and a group "summary")."""

import pytest

from ansible_collections.pgtrail.audit.plugins.filter.state_dir import state_dir

INSTALLED = "/home/dba/.ansible/collections/ansible_collections/pgtrail/audit/playbooks"


@pytest.mark.parametrize(
    "inventory_dir, sources, playbook_dir, expected",
    [
        # -i inventory (a directory holding hosts.yml): beside it, not in it.
        ("/srv/audit/inventory", ["/srv/audit/inventory"], INSTALLED, "/srv/audit"),
        ("/srv/audit/inventory/", ["/srv/audit/inventory"], INSTALLED, "/srv/audit"),
        ("/srv/audit/inventory", ["/srv/audit/inventory/"], INSTALLED, "/srv/audit"),
        # -i inventory/hosts.yml (a file): the directory of the file, as before.
        ("/srv/audit/inventory", ["/srv/audit/inventory/hosts.yml"], INSTALLED, "/srv/audit/inventory"),
        ("/srv/audit", ["/srv/audit/hosts.yml"], INSTALLED, "/srv/audit"),
        # Several sources; the host's own is a directory among them.
        ("/srv/a", ["/srv/b/hosts.yml", "/srv/a"], INSTALLED, "/srv"),
        # A host defined in a subdirectory of the inventory directory (Ansible reads those too).
        ("/srv/audit/inventory/dc1", ["/srv/audit/inventory"], INSTALLED, "/srv/audit"),
        # A sibling whose name starts like the source is not under it.
        ("/srv/audit/inventory2", ["/srv/audit/inventory"], INSTALLED, "/srv/audit/inventory2"),
        # From a checkout, or with no inventory file (localhost): the checkout's root.
        ("/srv/audit/inventory", ["/srv/audit/inventory"], "/work/pgtrail/playbooks", "/work/pgtrail"),
        (None, [], "/work/pgtrail/playbooks", "/work/pgtrail"),
        (None, None, INSTALLED, "/home/dba/.ansible/collections/ansible_collections/pgtrail/audit"),
    ],
)
def test_the_default_directory_is_beside_the_inventory_never_inside_an_inventory_directory(
    inventory_dir, sources, playbook_dir, expected
):
    assert state_dir(inventory_dir, sources, playbook_dir) == expected
