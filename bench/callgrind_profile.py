"""Reads a callgrind output file into exclusive instruction counts per (object, function), so that two runs
can be subtracted: what the extra invocation of one run cost, by library and by function."""
import collections
import os
import re

_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def exclusive_costs(path):
    """{(object basename, function): Ir}, exclusive (calls' inclusive costs are not counted twice)."""
    names = {"ob": {}, "fn": {}}
    costs = collections.Counter()
    ob = fn = None
    skip_next_cost = False

    def resolve(kind, text):
        match = _NAMED.match(text)
        if not match:
            return text
        ident, name = match.groups()
        if name is not None:
            names[kind][ident] = name
        return names[kind].get(ident, text)

    with open(path) as f:
        for line in f:
            if not line or line[0] in "#\n":
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                if skip_next_cost:
                    skip_next_cost = False
                    continue
                parts = line.split()
                if len(parts) > 1:
                    costs[(ob, fn)] += int(parts[1])
                continue
            key, _, value = line.rstrip("\n").partition("=")
            if key == "ob":
                ob = os.path.basename(resolve("ob", value))
            elif key == "fn":
                fn = resolve("fn", value)
            elif key == "cob":
                resolve("ob", value)
            elif key == "cfn":
                resolve("fn", value)
            elif key == "calls":
                skip_next_cost = True
    return costs


def inclusive_of(path, function):
    """Instructions spent in `function` and everything it called (summed over its call sites; the
    function must not call itself)."""
    names = {}
    total = 0
    callee = None
    take_next = False
    with open(path) as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if take_next:
                    parts = line.split()
                    if callee == function and len(parts) > 1:
                        total += int(parts[1])
                    take_next = False
                continue
            key, _, value = line.rstrip("\n").partition("=")
            if key in ("fn", "cfn"):
                match = _NAMED.match(value)
                name = value
                if match:
                    ident, text = match.groups()
                    if text is not None:
                        names[ident] = text
                    name = names.get(ident, value)
                if key == "cfn":
                    callee = name
            elif key == "calls":
                take_next = True
    return total


def library_of(obj, fn, owners=None):
    """A readable owner for a cost: the shared library; in a static executable the archive that defines the
    function (`owners`, from size_breakdown.symbol_owners), with Tourniquet's own code by namespace."""
    if obj and obj not in ("tourniquet", "bootstrap"):
        return re.sub(r"\.so[.\d]*$", "", obj)
    if "nlohmann" in fn:
        return "nlohmann-json (inlined)"
    if fn.startswith("tq::aws::sigv4") or fn.startswith("tq::aws::crypto"):
        return "tourniquet: signing"
    if fn.startswith("tq::"):
        return "tourniquet: " + fn.split("::")[1].split("<")[0]
    base = re.sub(r"'\d+$", "", fn)
    owner = (owners or {}).get(base) or (owners or {}).get(base.split(".")[0])
    if owner and not owner.startswith("tourniquet"):
        return owner
    if "pugi" in fn:
        return "pugixml"
    if fn.startswith(("std::", "void std::", "bool std::")) or "__cxx11" in fn:
        return "libstdc++ (inlined)"
    return owner or "other"


def difference(longer, shorter, top=12, owners=None):
    """What `longer` spent beyond `shorter`: by library, and the top functions as (function, owner, count)."""
    a, b = exclusive_costs(longer), exclusive_costs(shorter)
    delta = collections.Counter()
    for key in set(a) | set(b):
        d = a.get(key, 0) - b.get(key, 0)
        if d:
            delta[key] = d
    by_library = collections.Counter()
    for (obj, fn), d in delta.items():
        by_library[library_of(obj, fn or "", owners)] += d
    functions = [(fn, library_of(obj, fn or "", owners), d) for (obj, fn), d in delta.most_common(top)]
    return {"total": sum(delta.values()), "by_library": by_library.most_common(), "functions": functions}
