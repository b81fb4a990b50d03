#!/usr/bin/env python3
"""Import cycles between the modules of each crate.

A crate's top-level modules are the files and directories under its `src/` (`app.rs` and
`routing/` are modules `app` and `routing`; the crate root is `lib.rs` or `main.rs`). Module A
depends on module B when A's code names `crate::B` (in a `use` or a path, braces included) or,
from a top-level file, `super::B`. Code after a file's first `#[cfg(test)]` is not read (test
modules import freely). A cycle is a strongly connected group of two or more modules.

  scripts/module_cycles.py            # every crate: its cycles, and the edges that make them
  scripts/module_cycles.py --check    # exit 1 if any crate has a cycle
  scripts/module_cycles.py CRATE ...  # only these crates (directory names under crates/)
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def top_module(src, path):
    rel = os.path.relpath(path, src).replace(os.sep, "/")
    if rel in ("lib.rs", "main.rs"):
        return None
    first = rel.split("/")[0]
    return first[:-3] if first.endswith(".rs") else first


def group_names(text, i):
    """Top-level names in the brace group that opens at text[i] == '{'."""
    depth, start, names = 0, i + 1, []
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                names.append(text[start:j])
                break
        elif c == "," and depth == 1:
            names.append(text[start:j])
            start = j + 1
    out = []
    for n in names:
        m = IDENT.match(n.strip())
        if m:
            out.append(m.group(0))
    return out


def references(text, prefix):
    """Names that follow `prefix::` (a path's next segment, or each name of a brace group)."""
    out = set()
    for m in re.finditer(r"\b" + prefix + r"::", text):
        rest = m.end()
        if text.startswith("{", rest):
            out.update(group_names(text, rest))
        else:
            n = IDENT.match(text, rest)
            if n:
                out.add(n.group(0))
    return out


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def crate_graph(crate_dir):
    src = os.path.join(crate_dir, "src")
    modules, edges = set(), {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if f.endswith(".rs"):
                m = top_module(src, os.path.join(dirpath, f))
                if m:
                    modules.add(m)
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            me = top_module(src, path)
            if me is None:
                continue
            text = strip(open(path, encoding="utf-8").read())
            names = references(text, "crate")
            if os.path.dirname(path) == src:  # a top-level file: `super` is the crate root
                names |= references(text, "super")
            for n in names:
                if n in modules and n != me:
                    edges.setdefault(me, set()).add(n)
    return modules, edges


def cycles(modules, edges):
    """Tarjan's strongly connected components of two or more modules."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    check = "--check" in sys.argv
    crates = args or sorted(d for d in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, d, "src")))
    found = 0
    for c in crates:
        modules, edges = crate_graph(os.path.join(ROOT, c))
        for comp in cycles(modules, edges):
            found += 1
            inside = set(comp)
            links = [f"{a} -> {b}" for a in comp for b in sorted(edges.get(a, ())) if b in inside]
            print(f"{c}: {' / '.join(comp)}")
            print("    " + "; ".join(links))
    print(f"{found} cycle(s) in {len(crates)} crate(s)")
    return 1 if check and found else 0


if __name__ == "__main__":
    sys.exit(main())
