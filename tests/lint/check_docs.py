#!/usr/bin/env python3
# Docs and examples lint: user code builds caches with CacheBuilder and never names an envelope.
# SPDX-License-Identifier: MIT
#
# Fails when
#   - `Tagged<` or `Timed<` (the layers' envelopes) appears anywhere in examples/**, or the
#     hand assembly of layers does (make_tagged_*, make_tiered_*, FailSafeBackend,
#     ResilientBackend, attach_stats, MemoryOptions<): examples are what users copy;
#   - `Tagged<` or `Timed<` appears in a ```cpp block of README.md or docs/*.md, except under a
#     heading whose text starts with "Expert:" (e.g. "#### Expert: the layers by hand"), up to
#     the next heading of the same or a higher level.
#
# usage: check_docs.py ROOT          check the tree at ROOT
#        check_docs.py --self-test   check that each rule catches what it should
import pathlib
import re
import sys
import tempfile

ENVELOPES = re.compile(r"\b(Tagged|Timed)<")
ASSEMBLY = re.compile(
    r"\b(make_tagged_\w+|make_tiered_\w+|FailSafeBackend|ResilientBackend|attach_stats"
    r"|MemoryOptions<)")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
CPP_LANGS = {"cpp", "c++", "cxx", "cc"}


def check_example(path, rel, problems):
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return  # binary files (images) hold no code
    for n, line in enumerate(text.splitlines(), 1):
        for rule, what in ((ENVELOPES, "names an envelope type"),
                           (ASSEMBLY, "assembles layers by hand")):
            m = rule.search(line)
            if m:
                problems.append(f"{rel}:{n}: {what} ({m.group(0)}): build the cache with "
                                "CacheBuilder and pass tags or content types in EntryOptions")


def check_markdown(path, rel, problems):
    fence = None  # the opening fence while inside a code block
    is_cpp = False
    expert_level = 0  # heading level of the "Expert:" section we are in, 0 when none
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            is_cpp = m.group(2).lower() in CPP_LANGS
            continue
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and not m.group(2):
                fence = None
                continue
            e = ENVELOPES.search(line)
            if is_cpp and e and not expert_level:
                problems.append(f"{rel}:{n}: a cpp block names {e.group(0)}: show the "
                                "CacheBuilder call, or move it under an \"Expert:\" heading")
            continue
        h = HEADING.match(line)
        if h:
            level = len(h.group(1))
            if expert_level and level <= expert_level:
                expert_level = 0
            if h.group(2).strip().startswith("Expert:"):
                expert_level = level


def check(root):
    root = pathlib.Path(root).resolve()
    problems = []
    files = 0
    examples = root / "examples"
    if not examples.is_dir():
        problems.append(f"{examples}: not found (wrong ROOT?)")
    else:
        for p in sorted(examples.rglob("*")):
            if p.is_file():
                files += 1
                check_example(p, p.relative_to(root).as_posix(), problems)
    docs = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    for p in docs:
        if p.is_file():
            files += 1
            check_markdown(p, p.relative_to(root).as_posix(), problems)
    return files, problems


def self_test():
    """Each rule must catch its case, and the expert section and other code must pass."""
    cases = {
        "examples/a.cpp": ("ttlcache::MemoryOptions<std::string, Tagged<Page>> m;\n", 2),
        "examples/b/stores.hpp": ("auto b = make_tiered_backend(store);\n", 1),
        "examples/ok.cpp": ("auto c = ttlcache::CacheBuilder<K, V>(\"x\").tags().build();\n", 0),
        "README.md": ("# T\n```cpp\nauto x = Timed<int>{};\n```\n", 1),
        "docs/a.md": ("## Use\n```cpp\nMemoryOptions<K, Tagged<V>> m;\n```\n"
                      "### Expert: the layers by hand\n```cpp\nTagged<V> ok;\n```\n"
                      "#### deeper, still expert\n```cpp\nTimed<V> ok;\n```\n"
                      "## Next\n```cpp\nTimed<V> caught;\n```\n"
                      "```text\nTagged<V> not code\n```\n", 2),
    }
    failures = 0
    for name, (text, expected) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = pathlib.Path(tmp)
            (root / "examples").mkdir()
            (root / "docs").mkdir()
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            _, problems = check(root)
            if len(problems) != expected:
                failures += 1
                print(f"self-test {name}: expected {expected} problem(s), got {len(problems)}:")
                for p in problems:
                    print("  " + p)
    print(f"self-test: {len(cases)} cases, {failures} failure(s)")
    return 1 if failures else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    files, problems = check(sys.argv[1] if len(sys.argv) > 1 else ".")
    for p in problems:
        print(p)
    print(f"{files} files checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
