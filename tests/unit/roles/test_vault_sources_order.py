"""The vault's list of sources is in host order on every run, whatever Python's hash seed.

The list is worked out from inventory groups with Jinja's ``difference`` filter, which returns a
set's order; Python salts string hashes per process (PYTHONHASHSEED), so without a sort the
shipper's settings file written from the list changed on every run and the second run of a
converged fleet reported a change. Each case evaluates the role's own vars/main.yml in a real
ansible-playbook run (local connection, no database).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SEEDS = ("0", "1", "2")

PLAY = """
- hosts: vault
  gather_facts: false
  vars_files:
    - {root}/roles/audit_vault/defaults/main.yml
    - {root}/roles/audit_vault/vars/main.yml
  tasks:
    - ansible.builtin.copy:
        dest: "{{{{ out }}}}"
        content: "{{{{ {{'sources': __audit_vault_sources, 'logs': __audit_vault_log_settings.stores}} | to_json }}}}"
        mode: "0600"
      delegate_to: localhost
"""


def inventory(sources, standbys=()):
    hosts = {"ansible_connection": "local", "audit_triggers_databases": {"ledger": {}, "crm": {}}}
    groups = {
        "postgres": {"hosts": {h: dict(hosts) for h in list(sources) + list(standbys) + ["vault1"]}},
        "postgres_standby": {"hosts": {h: {} for h in standbys}},
        "audit_vault": {"hosts": {"vault1": {}}},
        "vault": {"hosts": {"vault1": {}}},
    }
    return {"all": {"children": groups}}


def sources_with_seed(tmp_path, seed, inv):
    (tmp_path / "inventory.json").write_text(json.dumps(inv))
    (tmp_path / "play.yml").write_text(PLAY.format(root=ROOT))
    out = tmp_path / ("out-%s.json" % seed)
    env = dict(os.environ, PYTHONHASHSEED=seed, ANSIBLE_NOCOLOR="1")
    run = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
         str(tmp_path / "play.yml"), "-e", "out=%s" % out],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text())


CASES = [
    pytest.param(["db-c", "db-a", "db-e", "db-b", "db-d"], [], id="five-sources"),
    pytest.param(["pg-2", "pg-10", "pg-1"], ["pg-1-standby", "pg-0-standby"], id="sources-and-standbys"),
]


@pytest.mark.parametrize("sources, standbys", CASES)
def test_the_sources_and_the_shippers_stores_are_the_same_list_in_host_order_for_every_hash_seed(
    tmp_path, sources, standbys
):
    inv = inventory(sources, standbys)
    results = [sources_with_seed(tmp_path, seed, inv) for seed in SEEDS]
    assert all(r == results[0] for r in results), "the order changed with PYTHONHASHSEED"
    listed = [(s["host"], s["database"]) for s in results[0]["sources"]]
    assert listed == [(h, d) for h in sorted(sources) for d in ("ledger", "crm")]  # standbys and the vault left out
