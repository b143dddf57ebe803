"""Python's own xmlrpc.client against the simulator: authenticate, then read each of the four
synced models with a domain, an order, a limit and active_test False, and check the answers.

Usage: python3 python_client.py URL DB LOGIN PASSWORD
"""

import sys
import xmlrpc.client


def main():
    url, db, login, password = sys.argv[1:5]
    common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common")
    version = common.version()
    assert version["protocol_version"] == 1, version
    assert common.authenticate(db, login, "wrong-password", {}) is False
    uid = common.authenticate(db, login, password, {})
    assert isinstance(uid, int) and uid > 0, uid
    models = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object")

    def read(model, domain, fields, order, limit=5):
        return models.execute_kw(
            db, uid, password, model, "search_read", [domain],
            {"fields": fields, "order": order, "limit": limit,
             "context": {"active_test": False}},
        )

    partners = read("res.partner", [["write_date", ">=", "2000-01-01 00:00:00"], ["id", ">", 0]],
                    ["name", "email", "active", "parent_id", "write_date"], "id asc")
    assert len(partners) == 5, partners
    ids = [p["id"] for p in partners]
    assert ids == sorted(ids), ids
    assert any(p["active"] is False for p in
               read("res.partner", [["active", "=", False]], ["active"], "id asc")), "archived"
    for p in partners:
        assert set(p) == {"id", "name", "email", "active", "parent_id", "write_date"}, p
        assert p["parent_id"] is False or (isinstance(p["parent_id"], list) and len(p["parent_id"]) == 2)
        assert len(p["write_date"]) == 19, p["write_date"]

    orders = read("sale.order", [["state", "in", ["sale", "draft", "sent", "cancel", "done"]]],
                  ["name", "partner_id", "amount_total", "date_order", "state"], "date_order desc, id desc", 7)
    assert len(orders) == 7, orders
    dates = [o["date_order"] for o in orders]
    assert dates == sorted(dates, reverse=True), dates
    assert all(isinstance(o["amount_total"], float) for o in orders)

    invoices = read("account.move", [["move_type", "!=", "entry"]],
                    ["name", "move_type", "amount_total", "payment_state", "invoice_date"], "id desc", 4)
    assert len(invoices) == 4 and all(i["move_type"] != "entry" for i in invoices), invoices
    assert [i["id"] for i in invoices] == sorted((i["id"] for i in invoices), reverse=True)

    employees = read("hr.employee", [["name", "ilike", "a"]], ["name", "work_email", "department_id", "active"],
                     "name asc", 3)
    assert 1 <= len(employees) <= 3 and all("a" in e["name"].lower() for e in employees), employees
    names = [e["name"] for e in employees]
    assert names == sorted(names), names

    count = models.execute_kw(db, uid, password, "res.partner", "search_count", [[]],
                              {"context": {"active_test": False}})
    visible = models.execute_kw(db, uid, password, "res.partner", "search_count", [[]])
    assert count > visible, (count, visible)

    try:
        models.execute_kw(db, uid, password, "no.such.model", "search", [[]])
        raise AssertionError("no fault")
    except xmlrpc.client.Fault as fault:
        assert fault.faultCode == 2, fault
    print("python xmlrpc.client: ok")


if __name__ == "__main__":
    main()
