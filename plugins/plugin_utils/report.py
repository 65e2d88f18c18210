# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's data, built from each host's evidence (pure; unit-tested).

``playbooks/report.yml`` gathers, per host, ``{facts, checks, drift}`` (or ``{error}`` when the
host could not be read) and hands them to :func:`fleet_model`; the JSON, Markdown and HTML
templates only render what it returns, so every number a reader sees is computed here once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.plugin_utils import compliance, cost, seed_coverage

UNKNOWN = "unknown"
# Keys Ansible adds to a registered result; they are no evidence.
_NOT_FACTS = ("invocation", "ansible_facts", "changed", "failed", "warnings", "deprecations")


def clean_facts(facts):
    """The module's return values without what Ansible adds to a registered result."""
    return dict(
        (key, value)
        for key, value in sorted((facts or {}).items())
        if not key.startswith("_") and key not in _NOT_FACTS
    )


def _check_catalog(hosts):
    """Every check any host reports, in the order compliance.CHECKS defines them."""
    order = dict((check_id, index) for index, (check_id, _s, _t, _f) in enumerate(compliance.CHECKS))
    seen = {}
    for host in hosts:
        for result in host["checks"]:
            seen.setdefault(
                result["id"],
                dict(
                    id=result["id"],
                    title=result["title"],
                    standard=result["standard"],
                    controls=result.get("controls") or compliance.controls_of(result["id"]),
                ),
            )
    return sorted(seen.values(), key=lambda c: (order.get(c["id"], len(order)), c["id"]))


def _coverage(name, facts):
    """One row per database read: extension, trail, lockdown and chain, as short facts."""
    rows = []
    versions = (facts.get("pgaudit") or {}).get("extension_versions") or {}
    trails = (facts.get("trail") or {}).get("databases") or {}
    logs = (facts.get("lockdown") or {}).get("databases") or {}
    chains = (facts.get("hash_chain") or {}).get("databases") or {}
    for database in sorted(set(versions) | set(trails)):
        trail = trails.get(database) or {"status": "no trail"}
        audited = [t for t in trail.get("audited") or [] if t.get("present", True)]
        not_always = sum(len(t.get("not_always") or []) + len(t.get("missing_triggers") or []) for t in audited)
        events_bad = sorted(n for n, state in (trail.get("event_triggers") or {}).items() if state != "A")
        log = logs.get(database) or {}
        rewriters = [w for w in log.get("writers") or [] if [p for p in w["privileges"] if p != "INSERT"]]
        chain = chains.get(database) or {"enabled": False}
        if not chain.get("enabled"):
            chain_state = "off"
        elif chain.get("error") or not chain.get("verifier"):
            chain_state = "error"
        elif "verify" not in chain:
            chain_state = "not verified"
        else:
            chain_state = "ok" if (chain.get("verify") or {}).get("ok") is True else "broken"
        rows.append(
            dict(
                host=name,
                database=database,
                pgaudit_extension=versions.get(database),
                trail=trail.get("status"),
                audited=[t["table"] for t in audited],
                triggers_ok=(not_always == 0 and not events_bad) if trail.get("status") == "present" else None,
                trigger_problems=not_always + len(events_bad),
                uncovered=list(trail.get("uncovered") or []),
                log_owner=log.get("owner"),
                rewriters=["%s (%s)" % (w["role"], ", ".join(w["privileges"])) for w in rewriters],
                chain=chain_state,
                chain_checked=(chain.get("verify") or {}).get("checked"),
            )
        )
    return rows


def _policy(facts):
    """The effective pgaudit.log of every login in every database: {system, databases, rows, weaker},
    each row a login with one cell per database (value, source, classes_dropped, not_inherited,
    ignored), ``weaker`` the number of cells that log fewer classes than the system value."""
    policy = facts.get("effective_policy") or {}
    databases = list(policy.get("databases") or [])
    logins = {}
    for cell in policy.get("logins") or []:
        row = logins.setdefault(
            cell["login"], dict(login=cell["login"], superuser=bool(cell.get("superuser")), cells={})
        )
        row["cells"][cell["database"]] = dict(
            value=(cell.get("settings") or {}).get("pgaudit.log"),
            source=(cell.get("sources") or {}).get("pgaudit.log"),
            classes_dropped=list(cell.get("classes_dropped") or []),
            not_inherited=[item["role"] for item in cell.get("not_inherited") or []],
            ignored=[item["value"] for item in cell.get("ignored") or [] if item.get("name") == "pgaudit.log"],
        )
    rows = [dict(row, cells=[row["cells"].get(db) for db in databases]) for _login, row in sorted(logins.items())]
    return dict(
        system=(policy.get("system") or {}).get("pgaudit.log"),
        databases=databases,
        rows=rows,
        weaker=sum(1 for row in rows for cell in row["cells"] if cell and cell["classes_dropped"]),
    )


def _host(name, evidence):
    evidence = evidence or {}
    error = evidence.get("error")
    facts = clean_facts(evidence.get("facts")) if not error else {}
    if not error and not facts:
        error = "no facts were gathered (host unreachable?)"
    checks = list(evidence.get("checks") or []) if not error else []
    drift = list(evidence.get("drift") or []) if not error else []
    pgaudit = facts.get("pgaudit") or {}
    package = pgaudit.get("package") or {}
    counts = compliance.summarize(checks)
    return dict(
        name=name,
        error=error,
        server_version=facts.get("server_version"),
        major=facts.get("major"),
        role="standby" if facts.get("in_recovery") else ("primary" if facts else None),
        pgaudit_package=package.get("version"),
        pgaudit_available=pgaudit.get("available_version"),
        pgaudit_loaded=pgaudit.get("loaded"),
        system_log=pgaudit.get("system_log"),
        checks=checks,
        results=dict((c["id"], c) for c in checks),
        counts=counts,
        failing=[c["id"] for c in checks if c["status"] == compliance.FAIL],
        drift=drift,
        drift_error=evidence.get("drift_error"),
        coverage=_coverage(name, facts) if facts else [],
        unreachable_databases=facts.get("unreachable_databases") or {},
        closed_databases=facts.get("closed_databases") or {},
        unreached_role_settings=facts.get("unreached_role_settings") or [],
        settings_by_scope=pgaudit.get("settings_by_scope") or [],
        weakening=facts.get("weakening") or [],
        preload=facts.get("preload") or {},
        logging=facts.get("logging") or {},
        lockdown=facts.get("lockdown") or {},
        policy=_policy(facts),
        can_switch_off=facts.get("can_switch_off") or [],
        # The seed's "what to audit" per category, and what the trail costs per database.
        seed_coverage=seed_coverage.judge(facts) if facts else [],
        cost=cost.estimates(facts) if facts else [],
        # playbooks/canary.yml's result, when report.yml ran it (pgtrail_report_canary).
        canary=evidence.get("canary"),
        facts=facts,
    )


def _vault_status(slot):
    """One word for an audit vault slot (docs/vault.md): streaming, inactive or lost."""
    if slot.get("lost"):
        return "lost"
    return "streaming" if slot.get("active") else "inactive"


def vault_rows(hosts):
    """Each source's audit vault slots, one row a slot, with its status (pure)."""
    rows = []
    for host in hosts:
        for slot in (host["facts"].get("replication") or {}).get("vault_slots") or []:
            rows.append(
                dict(
                    host=host["name"],
                    database=slot.get("database"),
                    slot=slot.get("slot_name"),
                    status=_vault_status(slot),
                    wal_status=slot.get("wal_status"),
                    retained_bytes=slot.get("retained_bytes"),
                    lag_bytes=slot.get("lag_bytes"),
                    lag_time=slot.get("lag_time"),
                    max_slot_wal_keep_size=slot.get("max_slot_wal_keep_size"),
                )
            )
    return rows


def fleet_model(evidence_by_host, standards=None, generated_at=None):
    """The report's data: {generated_at, standards, summary, checks, matrix, hosts, coverage,
    cost_source, unreached_role_settings, closed_databases}; each host also has its
    seed_coverage (plugin_utils.seed_coverage) and cost (plugin_utils.cost).

    ``evidence_by_host`` maps a host name to ``{facts, checks, drift}`` (``checks`` from
    compliance.evaluate, ``drift`` from drift.drift) or ``{error}``; a host mapped to nothing
    is reported as not read.
    """
    if not isinstance(evidence_by_host, dict):
        raise ValueError("fleet_model expects {host: evidence}, got %r" % (type(evidence_by_host).__name__,))
    standards = compliance.standards_of(standards)
    hosts = [_host(name, evidence_by_host[name]) for name in sorted(evidence_by_host)]
    catalog = _check_catalog(hosts)
    matrix = []
    for check in catalog:
        cells = []
        for host in hosts:
            result = host["results"].get(check["id"])
            if result is None:
                cells.append(dict(host=host["name"], status=UNKNOWN, reason=host["error"] or "not evaluated"))
            else:
                cells.append(dict(host=host["name"], status=result["status"], reason=result["reason"]))
        matrix.append(dict(check=check, cells=cells))
    totals = dict((status, 0) for status in compliance.STATUSES)
    for host in hosts:
        for status, count in host["counts"].items():
            totals[status] = totals.get(status, 0) + count
    summary = dict(
        hosts=len(hosts),
        hosts_read=len([h for h in hosts if not h["error"]]),
        hosts_compliant=len([h for h in hosts if not h["error"] and not h["failing"] and not h["drift"]]),
        hosts_with_drift=len([h for h in hosts if h["drift"]]),
        drift=sum(len(h["drift"]) for h in hosts),
        checks=len(catalog),
        totals=totals,
    )
    return dict(
        generated_at=generated_at,
        standards=list(standards),
        # The old name of standards, kept one release for templates that read it.
        profiles=list(standards),
        summary=summary,
        checks=catalog,
        matrix=matrix,
        hosts=hosts,
        coverage=[row for host in hosts for row in host["coverage"]],
        # Where the cost's bytes per change come from.
        cost_source=cost.SOURCE,
        # Role settings no session gets (NOLOGIN roles: pgaudit does not inherit them).
        unreached_role_settings=[
            dict(item, host=host["name"]) for host in hosts for item in host["unreached_role_settings"]
        ],
        # The audit vault's slots on each source (docs/vault.md).
        vault=vault_rows(hosts),
        # Databases never read because no session can open them.
        closed_databases=[
            dict(host=host["name"], database=name, reason=why)
            for host in hosts
            for name, why in sorted(host["closed_databases"].items())
        ],
    )
