#!/usr/bin/env python3
"""Writes a deterministic contacts CSV for the benchmarks: name,phone,city,customer_id.

Names mix ASCII and non-ASCII, `&`, quotes, `{{`, newlines and emoji; 10% of cities are empty
(so the template's default is used). Usage: gen_contacts.py ROWS > contacts.csv
"""
import csv
import random
import sys

FIRST = ["Asha", "Ravi", "Zoë", "Jürgen", "Søren", "Priyā", "Tom & Jerry", "José", "Mei 美", "O'Brien",
         "Chloé", "Anaïs", "Ngozi", "Dmitrij", "Ayşe", "Lars", "Siobhán", "Ravi \"RJ\"", "{{name}}", "Kofi"]
LAST = ["Rao", "Müller", "Ørsted", "Nakamura", "Dubois", "García", "Smith & Sons", "Kowalski", "Iyer",
        "Ó Súilleabháin", "Nguyễn", "Olsen", "Haddad", "Singh 🎉", "Papadopoulos", "Line\nBreak"]
CITIES = ["Mysuru", "Köln", "São Paulo", "Pune", "Zürich", "Chennai", "Kraków", "Malmö", "Delhi", "Oslo"]


def main():
    rows = int(sys.argv[1])
    rng = random.Random(20261125)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["name", "phone", "city", "customer_id"])
    for n in range(rows):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        phone = f"+91 {rng.randint(70000, 99999)} {rng.randint(10000, 99999)}"
        city = "" if rng.random() < 0.1 else rng.choice(CITIES)
        out.writerow([name, phone, city, f"C-{n:07d}"])


if __name__ == "__main__":
    main()
