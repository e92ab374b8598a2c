"""The route table, read from template.yaml: the one place that maps method and path to a
function. The dev server and the gateway emulator both use it, so nothing drifts."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LAYER_DIR = ROOT / "layers" / "common"


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Reads CloudFormation short tags (!Ref, !Sub, ...) as plain values. libyaml's C parser when
    PyYAML has it: every dev server, gateway, bench and test run parses the template."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _tag)


def read_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as f:
        return yaml.load(f, Loader=_TemplateLoader)  # noqa: S506  # SafeLoader subclass


@dataclass(frozen=True)
class FunctionRoute:
    function: str  # the function's logical id in the template
    method: str
    path: str  # as in the template: /api/v1/images/{image_id}
    code_dir: Path
    handler: str  # module.attribute, relative to code_dir
    timeout: int
    memory: int

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        parts = []
        for segment in self.path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("+}"):
                parts.append(f"(?P<{segment[1:-2]}>.+)")
            elif segment.startswith("{") and segment.endswith("}"):
                parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        return re.compile("^/" + "/".join(parts) + "/?$")

    def match(self, path: str) -> dict[str, str] | None:
        """Path parameters if the path matches; like API Gateway, a trailing slash is ignored."""
        found = self._pattern.match(path)
        return None if found is None else found.groupdict()

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def load_routes(template: Path = TEMPLATE) -> list[FunctionRoute]:
    doc = read_template(template)
    defaults = doc.get("Globals", {}).get("Function", {})
    routes = []
    for name, resource in doc["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            routes.append(
                FunctionRoute(
                    function=name,
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    code_dir=(template.parent / props["CodeUri"]).resolve(),
                    handler=props.get("Handler", defaults.get("Handler", "app.handler")),
                    timeout=int(props.get("Timeout", defaults.get("Timeout", 3))),
                    memory=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
                )
            )
    return routes


class RouteTable:
    def __init__(self, routes: list[FunctionRoute]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[FunctionRoute | None, dict[str, str], list[str]]:
        """The route and its path parameters; or no route and the methods the path allows."""
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.method in (method, "ANY"):
                return route, params, []
            allowed.append(route.method)
        return None, {}, sorted(set(allowed))


def no_route_answer(allowed: list[str]) -> tuple[int, dict[str, str], list[tuple[str, str]]]:
    """(status, JSON body, headers) when no function takes the request: 405 with Allow when the
    path exists for other methods, else 404. The dev server and the gateway both answer this,
    so every local target agrees (a real HTTP API says 404 {"message":"Not Found"} to both)."""
    if allowed:
        return 405, {"detail": "Method Not Allowed"}, [("allow", ", ".join(allowed))]
    return 404, {"detail": "Not Found"}, []


def load_handler(route: FunctionRoute) -> Any:
    """Imports a function's module from its own folder, as Lambda would, and returns its handler."""
    module_name, _, attribute = route.handler.rpartition(".")
    if str(LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(LAYER_DIR))
    unique = f"_function_{route.function}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, route.code_dir / f"{module_name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    return getattr(module, attribute)
