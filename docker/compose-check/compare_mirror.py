#!/usr/bin/env python3
"""compose-check's comparison of the mirror with the simulator, per tenant and module.

    compare_mirror.py SIM_URL DIR TENANT=DB:VERSION...

For each tenant and built-in default module it reads three things and demands they agree:
  - what the simulator holds: the ids (and write dates) of the module's model and domain,
    asked over XML-RPC like any Odoo client would (archived rows included where the module
    mirrors them);
  - the mirror: DIR/<tenant>/<module>.csv, written by `odoo-sync export --format csv` from
    MongoDB (odooId and writeDate columns);
  - the API's count: DIR/<tenant>/modules.json, the body of GET /odoo/modules.
Prints one line per tenant and module and a total; exits 1 when anything differs.

The model and domain per Odoo version follow shared/src/modules/builtin.rs (sales, invoices,
contacts, employees): a change there that this file does not follow shows up as a mismatch.
"""
import csv
import datetime
import json
import sys
import xmlrpc.client
from pathlib import Path


def module_query(module, version):
    """(model, domain, archived rows too) of a default module on an Odoo major version."""
    if module == "sales":
        return "sale.order", [], False
    if module == "invoices":
        if version == 12:
            return "account.invoice", [], False
        field = "type" if version == 13 else "move_type"
        return "account.move", [[field, "not in", ["entry"]]], False
    if module == "contacts":
        return "res.partner", [], True
    if module == "employees":
        return "hr.employee", [], True
    raise ValueError(module)


MODULES = ["sales", "invoices", "contacts", "employees"]


def seconds(text):
    """An Odoo 'YYYY-MM-DD HH:MM:SS' (UTC) or an RFC 3339 time, as whole Unix seconds."""
    text = text.strip().replace("T", " ").rstrip("Z").removesuffix("+00:00").split(".")[0]
    moment = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp())


def simulator_rows(url, db, module, version):
    """{id: write_date seconds} of what the simulator holds for the module."""
    url = f"{url}/db/{db}"  # the simulator's URL for one database
    common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common", allow_none=True)
    uid = common.authenticate(db, "admin", "admin", {})
    if not uid:
        raise RuntimeError(f"{db}: the simulator refused admin/admin")
    objects = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object", allow_none=True)
    model, domain, archived = module_query(module, version)
    if archived:
        domain = domain + ["|", ["active", "=", True], ["active", "=", False]]
    # search + read rather than search_read: the simulator delays every search_read
    # (SIM_LATENCY_MS) to slow the sync down, and this is not the sync.
    context = {"context": {"active_test": False}}
    ids = objects.execute_kw(db, uid, "admin", model, "search", [domain], context)
    rows = objects.execute_kw(
        db, uid, "admin", model, "read", [ids], {"fields": ["write_date"], **context}
    )
    return {row["id"]: seconds(row["write_date"]) for row in rows}


def mirror_rows(path):
    """[(odooId, writeDate seconds)] of an export CSV, in its order."""
    with open(path, newline="") as handle:
        return [
            (int(row["odooId"]), seconds(row["writeDate"]))
            for row in csv.DictReader(handle)
        ]


def api_counts(path):
    body = json.loads(Path(path).read_text())
    modules = body.get("modules", body) if isinstance(body, dict) else body
    return {m["name"]: m.get("records") for m in modules}


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, folder, tenants = argv[0], Path(argv[1]), argv[2:]
    failures, total = [], 0
    for spec in tenants:
        tenant, _, rest = spec.partition("=")
        db, _, version = rest.partition(":")
        version = int(version)
        counts = api_counts(folder / tenant / "modules.json")
        line = []
        for module in MODULES:
            want = simulator_rows(url, db, module, version)
            rows = mirror_rows(folder / tenant / f"{module}.csv")
            have = dict(rows)
            duplicated = len(rows) - len(have)
            total += len(rows)
            missing = sorted(set(want) - set(have))
            extra = sorted(set(have) - set(want))
            stale = sorted(i for i in set(want) & set(have) if want[i] != have[i])
            api = counts.get(module)
            if missing or extra or stale or duplicated or api != len(want):
                failures.append(
                    f"{tenant} {module}: simulator {len(want)}, mirror {len(rows)} "
                    f"({duplicated} duplicated), API {api}; missing {missing[:5]}, extra "
                    f"{extra[:5]}, other write date {stale[:5]}"
                )
            line.append(f"{module} {len(rows)}/{len(want)}")
        print(f"  {tenant} (db {db}, Odoo {version}): " + ", ".join(line))
    for failure in failures:
        print(f"  MISMATCH {failure}")
    print(f"  {total} records mirrored over {len(tenants)} tenants; "
          f"{len(failures)} tenant-module pairs differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
