#!/usr/bin/env python3
# Header hygiene: no include cycles between ttlcache's headers, and no header over 600 lines
# without a reason written at its top ("over 600 lines" in its first comment block).
# SPDX-License-Identifier: MIT
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
include = root / "include"
headers = {p.relative_to(include).as_posix(): p for p in include.rglob("*.hpp")}
edges = {}
problems = []
for name, path in headers.items():
    text = path.read_text()
    edges[name] = [m for m in re.findall(r'#include\s+"([^"]+)"', text) if m in headers]
    lines = text.count("\n")
    if lines > 600:
        head = "\n".join(l for l in text.splitlines()[:12] if l.startswith("//"))
        if "over 600 lines" not in head:
            problems.append(f"{name}: {lines} lines and no reason at its top "
                            "(write why it is 'over 600 lines', or split it)")

# Depth-first search for cycles.
state = {}
stack = []


def visit(node):
    state[node] = "open"
    stack.append(node)
    for nxt in edges[node]:
        if state.get(nxt) == "open":
            cycle = stack[stack.index(nxt):] + [nxt]
            problems.append("include cycle: " + " -> ".join(cycle))
        elif nxt not in state:
            visit(nxt)
    stack.pop()
    state[node] = "done"


for h in sorted(headers):
    if h not in state:
        visit(h)

for p in problems:
    print(p)
print(f"{len(headers)} headers checked, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
