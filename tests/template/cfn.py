"""The template tests' view of CloudFormation: where the templates are, how they are parsed, and
a small interpreter of what a stack of them creates.

The templates are parsed with cfn-lint's own decoder (it understands the short tags: !Ref,
!GetAtt, !Sub, ...). Conditions, Rules, Fn::If, Fn::FindInMap and Fn::Sub are evaluated by
`Stack`, so the assertions are about what CloudFormation would actually create for given
parameters, not about how the YAML happens to be written.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import decode
from sandbox.vendors import names

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
FOUNDATION = TEMPLATES / "foundation.yaml"
INGEST = TEMPLATES / "dynatrace-ingest.yaml"
# The member templates: one per vendor Registrar knows (sandbox/vendors.json, from the code),
# templates/<vendor>.yaml, each with the function and that vendor's registration.
MEMBER = {vendor: TEMPLATES / f"{vendor}.yaml" for vendor in names()}
# The single template of the releases before the split (what existing StackSets run), kept for
# the migration test only.
LEGACY = Path(__file__).with_name("legacy_template.yaml")

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
REGION_OF = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}
URL_SUFFIX_OF = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
ACCOUNT_ID = "444455556666"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/datadog-AbCdEf"

NO_VALUE = object()


def member_templates():
    """Every member template in templates/: those with the function (a new vendor's too)."""
    return sorted(p for p in TEMPLATES.glob("*.yaml") if "Function" in load(p).get("Resources", {}))


def load(path):
    template, matches = decode(str(path))
    assert not matches, f"{path.name} does not parse: {matches}"
    return template


class Stack:
    """One deployment of a template: parameter values plus pseudo parameters."""

    def __init__(self, template, partition="aws", region=None, stack_name="StackSet-registrar-0b5e4b10", **overrides):
        self.template = template
        self.values = {}
        parameters = template.get("Parameters", {})
        if "SecretArn" in parameters:
            overrides.setdefault("SecretArn", SECRET_ARN)
        for name, spec in parameters.items():
            if name in overrides:
                self.values[name] = str(overrides.pop(name))
            elif "Default" in spec:
                self.values[name] = str(spec["Default"])
        assert not overrides, f"unknown parameters {sorted(overrides)}"
        missing = set(parameters) - set(self.values)
        assert not missing, f"CloudFormation refuses a stack without {sorted(missing)} (no default)"
        self.values.update(
            {
                "AWS::Partition": partition,
                "AWS::Region": region or REGION_OF[partition],
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::URLSuffix": URL_SUFFIX_OF[partition],
                "AWS::StackName": stack_name,
            }
        )

    # Conditions and rule functions -----------------------------------------------------
    def truth(self, node):
        (fn, arg), = node.items()
        if fn == "Fn::Equals":
            left, right = (self.scalar(a) for a in arg)
            return left == right
        if fn == "Fn::Not":
            return not self.truth(arg[0])
        if fn == "Fn::And":
            return all(self.truth(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.truth(a) for a in arg)
        if fn == "Fn::Contains":
            return self.scalar(arg[1]) in [self.scalar(a) for a in arg[0]]
        if fn == "Fn::EachMemberEquals":
            return all(member == self.scalar(arg[1]) for member in self.resolve(arg[0]))
        if fn == "Condition":
            return self.condition(arg)
        raise AssertionError(f"the test's interpreter does not know {fn}; teach it")

    def condition(self, name):
        return self.truth(self.template["Conditions"][name])

    def scalar(self, node):
        value = self.resolve(node)
        assert isinstance(value, str), f"expected a string, got {value!r}"
        return value

    def rule_failures(self):
        """The AssertDescription of every rule assertion this stack violates."""
        failures = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.truth(assertion["Assert"]):
                    failures.append(assertion["AssertDescription"])
        return failures

    # Values -----------------------------------------------------------------------------
    def resolve(self, node):
        """Evaluate the intrinsics the checks need; leave GetAtt and resource Refs symbolic."""
        if isinstance(node, dict):
            if len(node) == 1:
                (fn, arg), = node.items()
                if fn == "Ref":
                    if arg == "AWS::NoValue":
                        return NO_VALUE
                    if arg in self.values:
                        if self.template["Parameters"].get(arg, {}).get("Type") == "CommaDelimitedList":
                            return self.values[arg].split(",")  # "" is [""], as CloudFormation has it
                        return self.values[arg]
                    return {"Ref": str(arg)}
                if fn == "Fn::If":
                    name, yes, no = arg
                    return self.resolve(yes if self.condition(name) else no)
                if fn == "Fn::FindInMap":
                    mapping, first, second = (self.scalar(a) for a in arg)
                    return str(self.template["Mappings"][mapping][first][second])
                if fn == "Fn::Sub":
                    text, variables = (arg, {}) if isinstance(arg, str) else arg
                    local = {k: self.scalar(v) for k, v in variables.items()}

                    def substitute(match):
                        name = match.group(1)
                        if name in local:
                            return local[name]
                        if name.split(".")[0] in self.template["Resources"]:
                            return "${" + name + "}"  # a resource's Ref or attribute: left symbolic
                        assert name in self.values, f"Fn::Sub: unknown variable {name}"
                        return self.values[name]

                    return re.sub(r"\$\{([^}!]+)\}", substitute, str(text))
                if fn == "Fn::Select":
                    index, items = arg
                    return self.resolve(items)[int(index)]
                if fn == "Fn::Split":
                    separator, text = arg
                    return self.scalar(text).split(separator)
                if fn == "Fn::Join":
                    separator, items = arg
                    return separator.join(self.scalar(item) for item in self.resolve(items))
            out = {}
            for key, value in node.items():
                value = self.resolve(value)
                if value is not NO_VALUE:
                    out[str(key)] = value
            return out
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if isinstance(node, str):
            return str(node)
        return node

    def resources(self):
        """The resources this stack creates, properties resolved."""
        out = {}
        for name, resource in self.template["Resources"].items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[name] = self.resolve(resource)
        return out

    def outputs(self):
        """The outputs this stack has, values resolved."""
        return {
            name: self.resolve(output["Value"])
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(policy_document):
    return [dict(s) for s in policy_document["Statement"]]


def references(node):
    """The logical names a node refers to (Ref, Fn::GetAtt, and ${Name} / ${Name.Attr} in Fn::Sub)."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add((value.split(".")[0] if isinstance(value, str) else value[0]))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", str(text)))
                found |= references(value)
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def dependencies(template, name):
    """What resource `name` waits for on create (and outlives on delete): DependsOn plus references."""
    resources = template["Resources"]
    resource = resources[name]
    named = set(as_list(resource.get("DependsOn", []))) | references(resource.get("Properties", {}))
    return {n for n in named if n in resources}


def created_after(template, later, earlier):
    """Whether `later` transitively depends on `earlier` (so it is created after, deleted before)."""
    seen, todo = set(), [later]
    while todo:
        for dependency in dependencies(template, todo.pop()):
            if dependency == earlier:
                return True
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    return False


def check_complete(stack):
    """No output, resource property or DependsOn of this stack names a resource it does not create."""
    resources = stack.resources()
    known = set(resources) | set(stack.template.get("Parameters", {}))
    for name, output in stack.outputs().items():
        missing = references(output) - known
        assert not {m for m in missing if not m.startswith("AWS::")}, (name, missing)
    for name, resource in resources.items():
        missing = references(resource.get("Properties", {})) - known
        assert not {m for m in missing if not m.startswith("AWS::")}, (name, missing)
        for dependency in as_list(resource.get("DependsOn", [])):
            assert dependency in resources, (name, dependency)


# --------------------------------------------------------------------------- cfn-lint


def specialise(stack):
    """The template as CloudFormation would see it for this stack: the resources and outputs it
    creates, every Fn::If decided. cfn-lint then checks that exact template."""

    def decide(node):
        if isinstance(node, dict):
            if len(node) == 1 and "Fn::If" in node:
                name, yes, no = node["Fn::If"]
                return decide(yes if stack.condition(name) else no)
            return {k: decide(v) for k, v in node.items()}
        if isinstance(node, list):
            return [decide(item) for item in node]
        return node

    out = {k: v for k, v in stack.template.items() if k not in ("Conditions", "Resources", "Outputs")}
    out["Resources"] = {
        name: decide({k: v for k, v in resource.items() if k != "Condition"})
        for name, resource in stack.template["Resources"].items()
        if "Condition" not in resource or stack.condition(resource["Condition"])
    }
    out["Outputs"] = {
        name: decide({k: v for k, v in output.items() if k != "Condition"})
        for name, output in stack.template.get("Outputs", {}).items()
        if "Condition" not in output or stack.condition(output["Condition"])
    }
    if not out["Outputs"]:
        del out["Outputs"]
    # The stack's parameter values become the defaults, so that cfn-lint resolves what this stack
    # would resolve; mappings that only the resources left out use go with them.
    out["Parameters"] = {
        name: {**spec, "Default": stack.values[name]} if stack.values.get(name, str(spec.get("Default"))) != str(spec.get("Default")) else spec
        for name, spec in stack.template["Parameters"].items()
    }
    used = json.dumps([out["Resources"], out.get("Outputs", {}), out.get("Rules", {})])
    out["Mappings"] = {name: table for name, table in stack.template.get("Mappings", {}).items() if f'"{name}"' in used}
    if not out["Mappings"]:
        del out["Mappings"]
    return json.loads(json.dumps(out, default=str))


def cfn_lint(*args, cwd=ROOT):
    """cfn-lint (this interpreter's) with `args`: (exit code, what it printed)."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return result.returncode, result.stdout + result.stderr


def lint_specialised(stacks, tmp_path):
    """cfn-lint over the specialised template of each stack, in the template's own regions.
    W2001 (unused parameter) is a product of specialising: the parameters that only fed
    conditions are unused once the conditions are decided."""
    paths = []
    for index, stack in enumerate(stacks):
        path = tmp_path / f"stack-{index}.json"
        path.write_text(json.dumps(specialise(stack), indent=1))
        paths.append(path)
    return cfn_lint("--ignore-checks", "W2001", "--", *paths)
