"""The functions' environment as template.yaml gives it, for `make gateway`: Globals' variables
with every parameter at its default, as `sam local` applies them. A variable the shell already
sets wins; one that names a resource or the stack (the bucket, the proxy, the stack id) has no
local value and is left to the local stack."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from local.routes import TEMPLATE, read_template


class Unresolvable(Exception):
    """The value depends on something only a deployed stack has."""


def template_environment(path: Path = TEMPLATE) -> dict[str, str]:
    """Globals' Function variables, resolved; the empty and unresolvable ones left out."""
    template = read_template(path)
    resolver = _Resolver(template)
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    resolved: dict[str, str] = {}
    for name, spec in variables.items():
        try:
            value = resolver.value(spec)
        except Unresolvable:
            continue
        if value != "":  # the layer treats an empty variable as unset, as Lambda's empty string
            resolved[name] = str(value)
    return resolved


def apply_template_environment(path: Path = TEMPLATE) -> dict[str, str]:
    """Sets what the shell does not; returns what it set."""
    applied = {name: value for name, value in template_environment(path).items() if name not in os.environ}
    os.environ.update(applied)
    return applied


class _Resolver:
    def __init__(self, template: dict[str, Any]) -> None:
        self.parameters = {
            name: spec.get("Default", "") for name, spec in template.get("Parameters", {}).items()
        }
        self.conditions = template.get("Conditions", {})

    def value(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        [(function, args)] = node.items()
        if function == "Ref":
            if args not in self.parameters:  # a resource or a pseudo parameter
                raise Unresolvable(args)
            default = self.parameters[args]
            return ",".join(map(str, default)) if isinstance(default, list) else default
        if function == "If":
            name, when_true, when_false = args
            return self.value(when_true if self.holds(name) else when_false)
        if function == "Equals":
            return str(self.value(args[0])) == str(self.value(args[1]))
        if function == "Not":
            return not self.value(args[0])
        if function == "And":
            return all(self.value(a) for a in args)
        if function == "Or":
            return any(self.value(a) for a in args)
        if function == "Condition":
            return self.holds(args)
        if function == "Join":
            return args[0].join(str(self.value(a)) for a in self.value(args[1]))
        raise Unresolvable(function)  # Sub, GetAtt, ...: names a resource

    def holds(self, condition: str) -> bool:
        return bool(self.value(self.conditions[condition]))
