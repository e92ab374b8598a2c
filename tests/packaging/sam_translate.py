"""Prints template.yaml as CloudFormation would deploy it, for given parameter values.

Runs under SAM CLI's own Python (.tools/sam/bin/python, which has samtranslator), not the
project's. First it does what the AWS::LanguageExtensions transform does for this template:
every Fn::If in Resources and Outputs whose condition depends only on parameters becomes the
chosen branch (AWS::NoValue drops the item), and a resource whose condition is false goes.
Then it applies the SAM transform, offline.
(SAM CLI's own local LanguageExtensions emulation is not used: it flattens an unresolvable
`!Sub "${Bucket.Arn}/..."` into a plain string.)

Usage: sam_translate.py TEMPLATE JSON, JSON being a list of parameter sets; prints a JSON list
holding the Resources section CloudFormation would receive for each."""

from __future__ import annotations

import json
import sys
from typing import Any

from boto3.session import Session
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

_DROP = object()  # what AWS::NoValue resolves to


class _Conditions:
    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        self.definitions = template.get("Conditions", {})
        self.values: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            raw = parameters.get(name, str(spec.get("Default", "")))
            self.values[name] = raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw

    def holds(self, name: str) -> bool:
        return bool(self._evaluate(self.definitions[name]))

    def _evaluate(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        [(function, args)] = node.items()
        if function == "Ref":
            return self.values[args]
        if function == "Condition":
            return self.holds(args)
        if function == "Fn::Equals":
            return self._evaluate(args[0]) == self._evaluate(args[1])
        if function == "Fn::Not":
            return not self._evaluate(args[0])
        if function == "Fn::Or":
            return any(self._evaluate(a) for a in args)
        if function == "Fn::And":
            return all(self._evaluate(a) for a in args)
        if function == "Fn::Join":
            return args[0].join(self._evaluate(args[1]))
        raise ValueError(f"unsupported in a condition: {function}")


def resolve_ifs(node: Any, conditions: _Conditions) -> Any:
    if isinstance(node, list):
        resolved = [resolve_ifs(item, conditions) for item in node]
        return [item for item in resolved if item is not _DROP]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::If"}:
        name, when_true, when_false = node["Fn::If"]
        return resolve_ifs(when_true if conditions.holds(name) else when_false, conditions)
    if node == {"Ref": "AWS::NoValue"}:
        return _DROP
    items = {key: resolve_ifs(value, conditions) for key, value in node.items()}
    return {key: value for key, value in items.items() if value is not _DROP}


def translate(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    conditions = _Conditions(template, parameters)
    sam: dict[str, Any] = {**template, "Transform": "AWS::Serverless-2016-10-31"}
    for section in ("Resources", "Outputs"):
        sam[section] = resolve_ifs(template[section], conditions)
    # CloudFormation creates no resource, and no output, whose condition is false.
    for section in ("Resources", "Outputs"):
        sam[section] = {
            name: spec
            for name, spec in sam[section].items()
            if "Condition" not in spec or conditions.holds(spec["Condition"])
        }
    for resource in sam["Resources"].values():  # the transform wants S3 locations, not folders
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=Session(region_name="us-east-1"),
    )
    output = translator.translate(
        sam_template=sam, parameter_values=dict(parameters), get_managed_policy_map=dict
    )
    return dict(output["Resources"])


def main() -> int:
    with open(sys.argv[1]) as f:
        template = yaml_parse(f.read())
    json.dump([translate(template, p) for p in json.loads(sys.argv[2])], sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
