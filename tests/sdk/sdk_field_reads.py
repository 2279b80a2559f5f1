#!/usr/bin/env python3
"""Lists every license field a LicenseSpring Python SDK reads, from its source (how docs/SDK-FIELDS.md was derived).

The SDK copies the activation and check responses into a LicenseData object (`from_json_to_attr`) and reads them
back as attributes. This walks the SDK's syntax trees and reports every attribute read on that object: in LicenseData
itself (`self.x`) and elsewhere (`…._cache.x`), classified as

  attr             plain attribute: AttributeError when the response had no such field (and the SDK did not set it)
  getattr          getattr(obj, "x") without a default: the same
  getattr-default  getattr(obj, "x", default): a missing field reads as the default
  hasattr          a presence test

and the attributes the SDK sets itself (`set by`), which need not come from the server.

usage: python sdk_field_reads.py [DIR]   DIR contains licensespring/ (an unpacked wheel); default: the installed SDK
       e.g. tests/sdk/.venvs/3.5.0/bin/python tests/sdk/sdk_field_reads.py
"""

from __future__ import annotations

import ast
import os
import sys


def package_dir(argv: list[str]) -> str:
    if len(argv) > 1:
        return os.path.join(argv[1], "licensespring")
    import licensespring  # noqa: PLC0415 - only when no directory is given

    return os.path.dirname(licensespring.__file__)


def parse(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as handle:
        return ast.parse(handle.read(), path)


def main(argv: list[str]) -> int:
    pkg = package_dir(argv)
    root = os.path.dirname(pkg)
    ld_path = os.path.join(pkg, "licensefile", "license_data.py")
    ld_class = next(n for n in parse(ld_path).body if isinstance(n, ast.ClassDef) and n.name == "LicenseData")
    methods = {n.name for n in ld_class.body if isinstance(n, ast.FunctionDef)}
    class_attrs = {t.id for n in ld_class.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}

    set_by: dict[str, set] = {}
    for function in ld_class.body:
        if isinstance(function, ast.FunctionDef):
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                ):
                    set_by.setdefault(node.attr, set()).add(function.name)

    reads: dict[str, list[tuple[str, str, str]]] = {}

    def add(name: str, where: str, function: str, kind: str) -> None:
        if name in methods or name in class_attrs or name.startswith("_") or name.endswith("_manager"):
            return
        reads.setdefault(name, []).append((kind, where, function))

    def scan(path: str, in_license_data: bool) -> None:
        tree = parse(path)
        rel = os.path.relpath(path, root)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

        def is_license_data(expr: ast.AST) -> bool:
            if in_license_data:
                return isinstance(expr, ast.Name) and expr.id == "self"
            return isinstance(expr, ast.Attribute) and expr.attr == "_cache"

        def function_of(node: ast.AST) -> str:
            names = []
            while node in parents:
                node = parents[node]
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names.append(node.name)
            return ".".join(reversed(names))

        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2
                and is_license_data(node.args[0])
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                kind = "hasattr" if node.func.id == "hasattr" else ("getattr-default" if len(node.args) == 3 else "getattr")
                add(node.args[1].value, f"{rel}:{node.lineno}", function_of(node), kind)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and is_license_data(node.value):
                parent = parents.get(node)
                if not (isinstance(parent, ast.Call) and parent.func is node):  # not a method call
                    add(node.attr, f"{rel}:{node.lineno}", function_of(node), "attr")

    scan(ld_path, True)
    for directory, _, files in os.walk(pkg):
        for name in sorted(files):
            path = os.path.join(directory, name)
            if name.endswith(".py") and path != ld_path:
                scan(path, False)

    for field in sorted(reads):
        kinds = sorted({kind for kind, _, _ in reads[field]})
        local = f"  (set by {', '.join(sorted(set_by[field]))})" if field in set_by else ""
        print(f"{field}: {', '.join(kinds)}{local}")
        for kind, where, function in sorted(reads[field], key=lambda r: (r[1].split(':')[0], int(r[1].split(':')[1]))):
            print(f"    {kind:15} {where:50} {function}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
