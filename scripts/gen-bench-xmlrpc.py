#!/usr/bin/env python3
"""Generate shared/benches/data/partner_search_read_200.xml for the XML-RPC decode benchmark.

The file is a 200-record res.partner search_read response with the same fields, types and layout
as the real Odoo 19 fixture xmlrpc_object_search_read_partner.response (False for empty values,
many2one pairs, whole-second datetime strings). It is deterministic (a fixed LCG, not `random`,
so the bytes do not depend on the Python version) and committed, so every benchmark run, in Rust
and in Python, decodes the same bytes.

Usage: scripts/gen-bench-xmlrpc.py [OUTPUT]   (default: shared/benches/data/partner_search_read_200.xml)
"""
import os
import sys
import xmlrpc.client

RECORDS = 200

FIRST = ["Azure", "Deco", "Gemini", "Lumber", "Ready", "Wood", "Addison", "Brandon", "Colleen",
         "Douglas", "Edwin", "Floyd", "Jesse", "Kim", "Lorraine", "Marc", "Nicole", "Oscar",
         "Émilie", "Jürgen", "Zoë", "O'Brien"]
LAST = ["Interior", "Addict", "Furniture", "Inc", "Mat", "Corner", "Olson", "Freeman", "Diaz",
        "Baker", "Ramos", "Steele", "Brown", "Miller", "Weber", "Dupont", "Smith & Sons", "<Test>"]
CITIES = ["Brisbane", "Fremont", "Tracy", "Pleasant Hill", "Oakland", "Bruxelles", "Lyon",
          "München", "São Paulo", "Zürich"]
COUNTRIES = [[233, "United States"], [21, "Belgium"], [75, "France"], [57, "Germany"],
             [31, "Brazil"], [44, "Switzerland"]]


class Lcg:
    """Numerical Recipes LCG: enough spread for test data, identical on every Python."""

    def __init__(self, seed):
        self.state = seed

    def next(self, n):
        self.state = (self.state * 1664525 + 1013904223) % 2**32
        return (self.state >> 8) % n


def stamp(base_sec):
    days, rest = divmod(base_sec, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    # 2026-11-01 plus `days` (all inside November, days < 30).
    return "2026-11-%02d %02d:%02d:%02d" % (1 + days, h, m, s)


def records():
    rng = Lcg(20261124)
    companies = []
    out = []
    for i in range(1, RECORDS + 1):
        is_company = rng.next(4) == 0
        name = "%s %s" % (FIRST[rng.next(len(FIRST))], LAST[rng.next(len(LAST))])
        slug = name.lower().replace(" ", ".").replace("'", "").replace("&", "and")
        slug = slug.replace("<", "").replace(">", "")
        email = "%s%d@example.com" % (slug, i) if rng.next(5) else False
        phone = "+1 555-%03d-%04d" % (rng.next(1000), rng.next(10000)) if rng.next(3) else False
        parent = False
        if not is_company and companies and rng.next(2):
            parent = list(companies[rng.next(len(companies))])
        country = list(COUNTRIES[rng.next(len(COUNTRIES))]) if rng.next(4) else False
        created = rng.next(20 * 86400)
        written = created + rng.next(5 * 86400)
        rec = {
            "id": i,
            "name": name,
            "email": email,
            "phone": phone,
            "is_company": is_company,
            "parent_id": parent,
            "country_id": country,
            "active": rng.next(10) != 0,
            "write_date": stamp(written),
            "create_date": stamp(created),
            "city": CITIES[rng.next(len(CITIES))] if rng.next(4) else False,
        }
        if is_company:
            companies.append((i, name))
        out.append(rec)
    return out


def odoo_response(value):
    """Serialise like Odoo 19 does (see the fixtures): Python's marshaller for the body, with
    Odoo's own `<?xml version="1.0"?>` header and the blank line before the closing tag."""
    body = xmlrpc.client.dumps((value,), methodresponse=True)
    body = body.split("<methodResponse>\n", 1)[1].rsplit("</methodResponse>", 1)[0]
    return '<?xml version="1.0"?>\n<methodResponse>\n' + body + "\n</methodResponse>\n"


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        root, "shared", "benches", "data", "partner_search_read_200.xml")
    data = odoo_response(records()).encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    print("wrote %s (%d bytes, %d records)" % (path, len(data), RECORDS))


if __name__ == "__main__":
    main()
