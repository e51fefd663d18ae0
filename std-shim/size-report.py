"""Groups `nm -S --size-sort -C BIN` (on stdin) into Markdown tables: bytes
per crate, per std/core/alloc module, and the N biggest symbols (argv[1]).
Called by size-report.sh; Python 3 standard library only.

A symbol belongs to the crate its path starts with; for `<T as Trait>::f`
and `<T>::f` that is T's crate, so a generic std function instantiated for
one of our types counts as std, the way cargo-bloat counts it. Names
without a Rust path are C (musl's libc, compiler-rt) or libunwind's C++.
"""

import re
import sys
from collections import Counter

FILE_TYPES = set("tTwWrRdDvV")  # code and data in the file (not .bss)
PREFIXES = ("&mut ", "&", "*const ", "*mut ", "dyn ", "[", "(")
STD = ("std", "core", "alloc")


def split_qualified(name):
    """`<A as B>::f` -> (A, B); `<A>::f` -> (A, None); else (name, None)."""
    if not name.startswith("<"):
        return name, None
    depth = 0
    for i, c in enumerate(name):
        depth += {"<": 1, ">": -1}.get(c, 0)
        if depth == 0:
            inner = name[1:i]
            break
    else:
        return name[1:], None
    depth = 0
    for i, c in enumerate(inner):
        depth += {"<": 1, ">": -1}.get(c, 0)
        if depth == 0 and inner.startswith(" as ", i):
            return inner[:i], inner[i + 4:]
    return inner, None


def path_of(name):
    """The path that names a symbol's crate: the self type of an impl, or
    the trait when the self type is a primitive or a generic parameter."""
    n = name
    while True:
        for p in PREFIXES:
            if n.startswith(p):
                n = n[len(p):]
                break
        else:
            if not n.startswith("<"):
                return n
            self_ty, trait = split_qualified(n)
            n = self_ty if "::" in self_ty or trait is None else trait


def crate_of(name):
    if "libunwind::" in name:
        return "libunwind (C++)"
    if "::" not in name:
        return "C (musl libc, compiler-rt)"
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", path_of(name))
    crate = m.group(0) if m else "?"
    if crate == "__rustc":  # the allocator shims
        return "std"
    return crate if "::" in path_of(name) else "core"  # impls on primitives


def module_of(name):
    """`core::fmt` for a std/core/alloc symbol, else None."""
    parts = path_of(name).split("::")
    if parts[0] in STD and len(parts) > 2:
        return "::".join(parts[:2])
    return None


def table(title, counts, total, limit=None):
    print("| %s | bytes | share |" % title)
    print("|---|---:|---:|")
    for key, size in counts.most_common(limit):
        print("| `%s` | %d | %.1f%% |" % (key, size, 100.0 * size / total))
    print()


def main():
    top = int(sys.argv[1])
    syms = []
    for line in sys.stdin:
        fields = line.rstrip("\n").split(" ", 3)
        if len(fields) == 4 and fields[2] in FILE_TYPES:
            syms.append((int(fields[1], 16), fields[3]))
    total = sum(size for size, _ in syms)
    crates, modules = Counter(), Counter()
    for size, name in syms:
        crates[crate_of(name)] += size
        mod = module_of(name)
        if mod:
            modules[mod] += size
    print("Symbols: %d bytes in %d symbols (code and data; the rest of the file"
          " is unwind tables, relocations and headers, see the sections)." % (total, len(syms)))
    print()
    table("crate", crates, total)
    table("std/core/alloc module (top 15)", modules, total, 15)
    print("| symbol (top %d) | crate | bytes |" % top)
    print("|---|---|---:|")
    for size, name in sorted(syms, reverse=True)[:top]:
        shown = name if len(name) <= 100 else name[:97] + "..."
        print("| `%s` | %s | %d |" % (shown.replace("|", "\\|"), crate_of(name), size))
    print()


if __name__ == "__main__":
    main()
