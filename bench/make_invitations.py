#!/usr/bin/env python3
"""Writes an invitation CSV with N rows: user<i>@invited.example (or spread over D domains,
user<i>@d<i mod D>.invited.example), every tenth scoped to an application, every fifth with an
expiry, every other one with two attributes.

Usage: make_invitations.py N PATH [D]
"""
import sys


def main():
    count, path = int(sys.argv[1]), sys.argv[2]
    domains = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    with open(path, "w", encoding="utf-8") as out:
        out.write("email,application_id,expires_at,displayName,!jobTitle\n")
        for i in range(count):
            app = "44445555-eeee-6666-ffff-7777aaaa8888" if i % 10 == 0 else ""
            expires = "2999-12-31" if i % 5 == 0 else ""
            name, title = (f"User {i}", "Engineer") if i % 2 == 0 else ("", "")
            domain = f"d{i % domains}.invited.example" if domains else "invited.example"
            out.write(f"user{i}@{domain},{app},{expires},{name},{title}\n")


if __name__ == "__main__":
    main()
