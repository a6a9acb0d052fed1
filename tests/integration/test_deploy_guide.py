"""docs/deploy.md, executed: every shell block a platform team runs, in the guide's order, through
the real `aws` CLI (awscli from PyPI, pinned in tests/requirements.txt) against the sandbox
(moto's S3, CloudFormation and StackSets, Organizations, Secrets Manager, KMS, IAM; the Datadog
emulator for `registrar audit`), in one shell, as the guide says to run them. Only the guide's
documented placeholders are substituted (the organisation's ids, the canary account, the keys
pasted into `cat > datadog-keys.json`, Dynatrace's environment URL and template configuration).
It runs twice: the Datadog path, and the Dynatrace path with step 8's ingest StackSet; each from
nothing to a canary, the rollout, `registrar audit`, an update that keeps every parameter, a
change of one, and uninstall.

Every block is classified below (`MODES`): run; or not run, with the reason: moto cannot serve
the call (each such block is named, and its commands are checked against the CLI's own model
instead), another tool (SAM CLI, curl to the vendor's API), the other vendor's variant, or a
fragment of a command. Every `aws` command of every block, run or not, must exist in the CLI's
model (service, operation, each `--option`) and name its `--region`: a guide command that a
platform team would type wrongly fails here.

What the sandbox stands in for (test scaffolding, not substitutions of the guide): the arm64
zip of `make zip` (a stand-in file at the documented path), and the StackSet's stacks
(`StackSetTemplateShim`: moto builds every resource of a StackSet's template in each account,
and cannot build Registrar's Lambda and its custom resources; moto gets a stand-in template
with the same parameters, and the shim keeps the real one, which the test checks), and S3's
PutBucketPolicy (moto applies a bucket policy's statements without their conditions, so the
guide's TLS-only Deny would refuse every later call: the shim answers it and keeps the policy,
which the test checks).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.paths import REPO_ROOT, registrar_path
from sandbox.stackset import Organisation, StackSetTemplateShim

GUIDE = REPO_ROOT / "docs" / "deploy.md"
MOTO_ACCOUNT = "123456789012"

RUN = "run"
# Commands moto cannot serve, by block: said, and checked against the CLI's model only.
MOTO_CANNOT = {
    "2. The foundation stack #1":
        "moto's CloudFormation builds the foundation's KMS key but not its Secrets Manager secrets and their "
        "policies; the run takes the guide's own alternative, the appendix (the central secret by hand), instead",
    "2. The foundation stack #2": "reads the foundation's outputs (see the block before)",
    "3. Let CloudFormation deploy to the organisation #1":
        "moto answers EnableAllFeatures with HTTP 500, has no ActivateOrganizationsAccess, and refuses "
        "StackSets' service principal in RegisterDelegatedAdministrator",
    "6. Check the result #3": "needs a role in a member account (moto acts as its management account)",
    "Single account: `aws cloudformation deploy` or `sam deploy` #1":
        "moto would build the member template's resources (a Lambda function and its custom resources)",
    "Uninstall #4": "this run made no single-account stack (its deploy is not served, above)",
    "Uninstall #5": "reads a member account's log group (<FunctionLogGroupName>)",
}
NOT_RUN = {
    "Before you start #1": "installs the SAM CLI, only for the SAM variants",
    "1.1 Build the arm64 zip #1": "make zip has its own test; a stand-in zip sits at the documented path",
    "1.3 Upload the zip and package the template #2": "SAM CLI (the SAM variant)",
    "6. Check the result #4": "curl to Datadog's own API",
    "6. Check the result #5": "curl to Dynatrace's own API",
    "Datadog: what it collects #1": "a line for --parameters (run inside step 4's command)",
    "Datadog: what it collects #2": "a line for --parameters",
    "Datadog: what it collects #3": "a line for --parameters",
    "Datadog with access keys #1": "a line for --parameters",
    "8. Several regions: Dynatrace log and event ingest #1":
        "replicates the key for ingest regions and updates the foundation stack (see step 2)",
    "Single account: `aws cloudformation deploy` or `sam deploy` #2": "SAM CLI (the SAM variant)",
    "Single account: `aws cloudformation deploy` or `sam deploy` #3": "SAM CLI (the SAM variant)",
    "A.1 The KMS key #1": "the appendix: instead of step 2 (run by its own test below)",
    "A.2 The secret #1": "the appendix (run by its own test below)",
    "A.2 The secret #2": "the appendix (run by its own test below)",
    "A.3 Its resource policy #1": "the appendix (run by its own test below)",
}
# What each vendor's run leaves out of the blocks the other runs (the reason is said).
VENDOR_NOT_RUN = {
    "datadog": {
        "Before you start #3": "the Dynatrace variables",
        "4. Create the StackSet #2": "the Dynatrace variant",
            "8. Several regions: Dynatrace log and event ingest #2": "Dynatrace's ingest StackSet",
        "8. Several regions: Dynatrace log and event ingest #3": "Dynatrace's ingest StackSet",
        "Uninstall #2": "Dynatrace's ingest StackSet",
    },
    "dynatrace": {
        "2. The foundation stack #3": "Datadog's keys (the appendix wrote Dynatrace's token)",
        "4. Create the StackSet #1": "the Datadog variant",
    },
}
# Blocks moto cannot serve in one vendor's run only.
VENDOR_MOTO_CANNOT: dict[str, dict[str, str]] = {}
# The appendix's blocks each run takes instead of the foundation stack.
BY_HAND = {"datadog": ["A.1 The KMS key #1", "A.2 The secret #1", "A.3 Its resource policy #1"],
           "dynatrace": ["A.1 The KMS key #1", "A.2 The secret #2", "A.3 Its resource policy #1"]}
# AWS CLI v2's own commands, which the v1 CLI from PyPI lacks: checked by name only.
V2_ONLY = {("logs", "tail")}
# Blocks whose last command may end with exit code 1 (the audit finds accounts not yet registered).
MAY_FIND = {"6. Check the result #1"}
APPENDIX = ["A.1 The KMS key #1", "A.2 The secret #1", "A.2 The secret #2", "A.3 Its resource policy #1"]


def main_run(blocks: list[Block], vendor: str = "datadog") -> list[Block]:
    """The blocks a vendor's path runs, in the guide's order, the appendix standing in for step 2."""
    by_key = {b.key: b for b in blocks}
    skipped = set(MOTO_CANNOT) | set(NOT_RUN) | set(VENDOR_NOT_RUN[vendor]) | set(VENDOR_MOTO_CANNOT.get(vendor, {}))
    run = []
    for block in blocks:
        if block.key == "2. The foundation stack #1":
            run += [by_key[k] for k in BY_HAND[vendor]]
        elif block.key not in skipped:
            run.append(block)
    return run


@dataclass
class Block:
    key: str  # "<section> #<n>"
    text: str


def guide_blocks(text: str) -> list[Block]:
    """The guide's ```sh blocks, in order, each keyed by its section and its number there."""
    blocks, counts, section = [], {}, ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        heading = re.match(r"^#{2,4} (.*)", lines[i])
        if heading:
            section = heading.group(1).strip()
        fence = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if fence:
            indent, lang, body = len(fence.group(1)), fence.group(2), []
            i += 1
            while not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i][indent:])
                i += 1
            if lang == "sh":
                counts[section] = counts.get(section, 0) + 1
                blocks.append(Block(f"{section} #{counts[section]}", "\n".join(body) + "\n"))
        i += 1
    return blocks


def aws_commands(script: str) -> list[list[str]]:
    """Every `aws …` command of a shell text: its words up to the end of the command."""
    joined = re.sub(r"\\\n", " ", script)
    commands = []
    for line in joined.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:  # an unterminated quote: a heredoc's body, not a command
            continue
        for n, token in enumerate(tokens):
            if token == "aws" and (n == 0 or re.fullmatch(r"[;&|()]+|.*=\$|then|else|do|\$", tokens[n - 1])):
                words = []
                for word in tokens[n:]:
                    if re.fullmatch(r"[;&|()<>]+", word):
                        break
                    words.append(word)
                commands.append(words)
    return commands


def cli_model():
    from awscli.clidriver import create_clidriver
    driver = create_clidriver()
    return driver._get_command_table(), set(driver._get_argument_table())


def children(command) -> dict:
    if hasattr(command, "_get_command_table"):
        return command._get_command_table()
    return getattr(command, "subcommand_table", {}) or {}


def model_problems(words: list[str], services, global_args: set[str]) -> list[str]:
    """What the CLI's model says is wrong with one `aws` command; empty when nothing."""
    shown = " ".join(words[:3])
    problems = []
    if "--region" not in words:
        problems.append(f"`{shown} …` has no --region")
    service, operation = words[1], words[2] if len(words) > 2 else ""
    if (service, operation) in V2_ONLY:
        return problems
    if service not in services:
        return problems + [f"`aws {service}` is not a service of the AWS CLI"]
    operations = children(services[service])
    if operation not in operations:
        return problems + [f"`aws {service} {operation}` is not an operation of the AWS CLI"]
    command = operations[operation]
    args = set(getattr(command, "arg_table", {}) or {})
    sub = children(command)
    if sub and len(words) > 3 and words[3] in sub:  # waiters: aws cloudformation wait <waiter>
        args = set(sub[words[3]].arg_table)
    for word in words[3:]:
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            if name not in args and name not in global_args:
                problems.append(f"`aws {service} {operation}` has no option --{name}")
    return problems


def test_every_block_is_classified_and_every_aws_command_is_in_the_clis_model():
    blocks = guide_blocks(GUIDE.read_text())
    keys = [b.key for b in blocks]
    known = set(MOTO_CANNOT) | set(NOT_RUN) | {k for v in VENDOR_NOT_RUN.values() for k in v}
    stale = sorted(k for k in known if k not in keys)
    assert not stale, f"the test classifies blocks the guide no longer has: {stale}"
    services, global_args = cli_model()
    problems = []
    for block in blocks:
        for words in aws_commands(block.text):
            problems += [f"{block.key}: {p}" for p in model_problems(words, services, global_args)]
    assert not problems, "\n".join(problems)
    assert sum(len(aws_commands(b.text)) for b in blocks) > 40, "the parser found the guide's commands"


def test_the_model_check_finds_a_missing_region_and_a_misspelt_option():
    services, global_args = cli_model()
    words = aws_commands('OP=$(aws cloudformation create-stack-instances --stack-set-name "$S" \\\n'
                         '  --regoins "$REGION" --query OperationId --output text)\n')[0]
    assert model_problems(words, services, global_args) == [
        "`aws cloudformation create-stack-instances …` has no --region",
        "`aws cloudformation create-stack-instances` has no option --regoins"]


@pytest.fixture
def world(sandbox, tmp_path):
    """The sandbox as the guide meets it: an organisation with three member accounts, the
    repository's templates and a stand-in zip in a working directory, `aws` and `registrar` on
    the PATH, every AWS call to moto (through the StackSet shim), no default region."""
    sb = sandbox
    org = Organisation(sb.aws)
    members = org.add_accounts(3)
    shim = StackSetTemplateShim(sb.aws.url).start()
    work = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "templates", work / "templates")
    zip_path = work / "target" / "lambda" / "bootstrap" / "bootstrap.zip"
    zip_path.parent.mkdir(parents=True)
    zip_path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip: the stand-in for make zip's
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "registrar").symlink_to(registrar_path())
    venv_bin = Path(sys.executable).parent  # the pinned awscli, beside pytest
    assert (venv_bin / "aws").exists(), f"no aws CLI in {venv_bin}: make .venv/.installed (tests/requirements.txt)"
    env = {"PATH": f"{bin_dir}:{venv_bin}:/usr/bin:/bin", "HOME": str(tmp_path),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_CONFIG_FILE": str(tmp_path / "no-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-creds"),
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "", "AWS_ENDPOINT_URL": shim.url,
           "REGISTRAR_VENDOR_ENDPOINT": sb.datadog.url}
    org_id = sb.aws.client("organizations").describe_organization()["Organization"]["Id"]
    template = sb.dynatrace.add_monitoring_config("organisation template")
    yield dict(sb=sb, org=org, members=members, shim=shim, work=work, env=env, org_id=org_id,
               probes=tmp_path / "probes", template=template)
    shim.stop()


def substitute(block: Block, w: dict) -> str:
    """The guide's documented placeholders, filled in for the sandbox (each must be there)."""
    keys = json.dumps({"api_key": w["sb"].api_key, "app_key": w["sb"].app_key})
    rules = [
        (r"^export ORG_ID=o-a1b2c3d4e5 ", f"export ORG_ID={w['org_id']} "),
        (r"^export ROOT_ID=r-a1b2 ", f"export ROOT_ID={w['org'].root} "),
        (r"^export SECRETS_ACCOUNT=111122223333 ", f"export SECRETS_ACCOUNT={MOTO_ACCOUNT} "),
        (r"^export ARTIFACTS_ACCOUNT=111122223333 ", f"export ARTIFACTS_ACCOUNT={MOTO_ACCOUNT} "),
        (r"^export CANARY=555566667777$", f"export CANARY={w['members'][0]}"),
        (r"^cat > datadog-keys\.json .*# paste .*$", f"cat > datadog-keys.json <<'KEYS'\n{keys}\nKEYS"),
        (r"^cat > dynatrace-token\.json .*# paste .*$",
         f"cat > dynatrace-token.json <<'KEYS'\n{json.dumps({'token': w['sb'].dynatrace_token})}\nKEYS"),
        (r"^export DT_ENV_URL=https://abc12345\.apps\.dynatrace\.com ",
         f"export DT_ENV_URL=https://{w['sb'].dynatrace.environment_host} "),
        (r"^export DT_MONITORING_CONFIG_ID=vu9U3hXa3q0AAAAB\.\.\. ", f"export DT_MONITORING_CONFIG_ID={w['template']} "),
    ]
    text = block.text
    for pattern, value in rules:
        if re.search(pattern, block.text, re.M):
            text = re.sub(pattern, lambda _: value, text, flags=re.M)
    if block.key == "4. Create the StackSet #1":  # with one recipe, so step 7 has more to keep
        recipe = next(b for b in guide_blocks(GUIDE.read_text()) if b.key == "Datadog: what it collects #1")
        text = text.replace("    ParameterKey=DatadogSite,", recipe.text.rstrip("\n") + "\n    ParameterKey=DatadogSite,")
    return text


def probe_stack_set(name: str) -> str:
    """Test scaffolding between blocks: the StackSet's parameters, saved for the assertions."""
    return (f'aws cloudformation describe-stack-set --region "$REGION" --stack-set-name "$STACK_SET" '
            f'--query StackSet.Parameters --output json > "$PROBES/{name}.json"\n')


PROBES = {"4. Create the StackSet #1": "created", "4. Create the StackSet #2": "created", "7. Updates #2": "updated",
          "7. Updates #3": "changed"}
# Test scaffolding before a block: what else happens to the world by then.
AGAIN = "1.3 Upload the zip and package the template #1 (again: a new build, step 7)"
BEFORE = {
    # A new build, which step 7 uploads and packages again with step 1.3: a second object.
    AGAIN: "printf 'PK\\005\\006 a new build %18s' '' > target/lambda/bootstrap/bootstrap.zip\n",
    # Someone ran `aws s3 rm` on the versioned bucket, as the guide once said: delete markers.
    "Uninstall #7": 'aws s3 rm "s3://$BUCKET/registrar/" --recursive --region "$REGION"\n'
                    'aws s3api list-object-versions --bucket "$BUCKET" --region "$REGION" --output json '
                    '> "$PROBES/versions-before-uninstall.json"\n',
}


def script_of(blocks: list[Block], w: dict) -> str:
    blocks = list(blocks)
    keys = [b.key for b in blocks]
    if "7. Updates #2" in keys:  # step 7: "build, upload and package again (steps 1.1 and 1.3)"
        package = blocks[keys.index("1.3 Upload the zip and package the template #1")]
        blocks.insert(keys.index("7. Updates #2"), Block(AGAIN, package.text))
    parts = ["set -eo pipefail\n", f"mkdir -p {shlex.quote(str(w['probes']))}\n"]
    for block in blocks:
        parts.append(BEFORE.get(block.key, ""))
        parts.append(f"echo '@@ {block.key}' >&2\n")
        body = substitute(block, w)
        if block.key in MAY_FIND:
            parts.append(f"set +e\n{body}echo \"@@ exit $?\" >&2\nset -e\n")
        else:
            parts.append(body)
        if block.key in PROBES:
            parts.append(probe_stack_set(PROBES[block.key]))
    return "".join(parts)


def run_script(script: str, w: dict) -> subprocess.CompletedProcess:
    env = dict(w["env"], PROBES=str(w["probes"]))
    return subprocess.run(["bash", "-c", script], cwd=w["work"], env=env, capture_output=True, text=True,
                          timeout=600)


def parameters(w: dict, name: str) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in json.loads((w["probes"] / f"{name}.json").read_text())}


@pytest.mark.parametrize("vendor", ["datadog", "dynatrace"])
def test_the_guide_from_nothing_to_a_rollout_its_audit_an_update_and_back_to_nothing(world, vendor):
    w = world
    if vendor == "dynatrace":
        w["env"]["REGISTRAR_VENDOR_ENDPOINT"] = w["sb"].dynatrace.url
    name = f"registrar-{vendor}"
    blocks = main_run(guide_blocks(GUIDE.read_text()), vendor)
    assert [b.key for b in blocks][0] == "Before you start #2" and "Uninstall #7" in [b.key for b in blocks]
    run = run_script(script_of(blocks, w), w)
    last = ([line for line in run.stderr.splitlines() if line.startswith("@@ ")] or ["(none)"])[-1]
    assert run.returncode == 0, f"failed in block {last}:\n{run.stderr[-3000:]}\n{run.stdout[-2000:]}"
    assert last == f"@@ {blocks[-1].key}", "every block ran"
    sb, shim = w["sb"], w["shim"]

    # Step 1.3's packaged template went to the StackSet, with the code's bucket and content-named key.
    bodies = shim.templates[name]
    assert len(bodies) == 3 and len(set(bodies[:2])) == 2, "the update carried the new build's key"
    assert all(re.search(r"Code: \{S3Bucket: registrar-artifacts-\d{12}-eu-west-1, "
                                              r"S3Key: registrar/[0-9a-f]{16}/bootstrap.zip\}", b) for b in bodies)
    assert "no Transform: ready for a service-managed StackSet" in run.stdout
    (bucket, policy), = shim.bucket_policies.items()
    read, tls = policy["Statement"]
    assert read["Resource"] == f"arn:aws:s3:::{bucket}/registrar/*" and read["Action"] == "s3:GetObject"
    assert read["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": w["org_id"]}}
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    # Step 6: the audit read the StackSet, the organisation and Datadog, and found the accounts
    # that no stack has registered yet (moto runs no Lambda): exit code 1, one line each.
    assert "@@ exit 1" in run.stderr, run.stderr[-2000:]
    location = "datadoghq.com" if vendor == "datadog" else sb.dynatrace.environment_host
    assert f"StackSet {name} against {vendor} ({location})" in run.stdout, run.stdout[-3000:]
    for account in w["members"]:
        assert re.search(rf"^missing\s+{account}\s", run.stdout, re.M), run.stdout[-3000:]

    # Step 7: an update keeps every parameter; a change changes only the one named.
    created = parameters(w, "created")
    if vendor == "datadog":
        assert created["DatadogRegions"] == "us-east-1,eu-west-1" and created["DatadogSite"] == "datadoghq.com"
    else:
        assert created["EnvironmentUrl"] == f"https://{sb.dynatrace.environment_host}"
        assert created["MonitoringConfigId"] == w["template"]
        # Step 8: the ingest StackSet, from its own template, in three regions, then gone.
        (ingest,) = shim.templates["registrar-dynatrace-ingest"]
        assert "Code:" not in ingest and "AWS::KinesisFirehose::DeliveryStream" in ingest
    assert parameters(w, "updated") == created
    assert parameters(w, "changed") == dict(created, OnDeleteError="retain")

    # Uninstall: nothing is left but what is scheduled for deletion; the bucket had two
    # versions and their delete markers.
    versions = json.loads((w["probes"] / "versions-before-uninstall.json").read_text())
    assert len(versions["Versions"]) == 2 and len(versions["DeleteMarkers"]) == 2
    cfn = sb.aws.client("cloudformation", "eu-west-1")
    assert {s["Status"] for s in cfn.list_stack_sets()["Summaries"]} <= {"DELETED"}
    assert sb.aws.client("s3", "eu-west-1").list_buckets()["Buckets"] == []
    secrets = sb.aws.client("secretsmanager", "eu-west-1").list_secrets(IncludePlannedDeletion=True)["SecretList"]
    assert secrets and all("DeletedDate" in s for s in secrets)
    keys = sb.aws.client("kms", "eu-west-1")
    states = [keys.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in keys.list_keys()["Keys"]]
    assert states and set(states) == {"PendingDeletion"}


def test_a_broken_command_in_the_guide_fails_the_run(world):
    """Removing one `--region` (here: from step 4's create-stack-set) fails both checks: the
    model check names the command, and the run stops there (the shell has no default region)."""
    w = world
    blocks = main_run(guide_blocks(GUIDE.read_text()))
    step4 = next(n for n, b in enumerate(blocks) if b.key == "4. Create the StackSet #1")
    broken = blocks[step4].text.replace('create-stack-set --region "$REGION"', "create-stack-set")
    assert broken != blocks[step4].text
    services, global_args = cli_model()
    assert ["`aws cloudformation create-stack-set …` has no --region"] == [
        p for words in aws_commands(broken) for p in model_problems(words, services, global_args)]
    run = run_script(script_of(blocks[:step4] + [Block(blocks[step4].key, broken)], w), w)
    assert run.returncode != 0 and "You must specify a region" in run.stderr, run.stderr[-2000:]


def test_the_appendix_makes_the_central_secret_by_hand(world):
    w = world
    blocks = {b.key: b for b in guide_blocks(GUIDE.read_text())}
    keys = json.dumps({"token": "dt0s16.EXAMPLE"})
    script = script_of([blocks["Before you start #2"]] + [blocks[k] for k in APPENDIX], w)
    script = re.sub(r"^cat > dynatrace-token\.json .*# paste .*$", f"cat > dynatrace-token.json <<'KEYS'\n{keys}\nKEYS",
                    script, flags=re.M)
    run = run_script(script, w)
    assert run.returncode == 0, run.stderr[-3000:]
    sm = w["sb"].aws.client("secretsmanager", "eu-west-1")
    names = sorted(s["Name"] for s in sm.list_secrets()["SecretList"])
    assert names == ["registrar/datadog", "registrar/dynatrace"]
    policy = json.loads(sm.get_resource_policy(SecretId="registrar/dynatrace")["ResourcePolicy"])
    assert policy["Statement"][0]["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": w["org_id"]}
    kms = w["sb"].aws.client("kms", "eu-west-1")
    assert [a["AliasName"] for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/registrar"]


def test_the_polling_function_stops_when_the_poll_itself_fails(world):
    """Step 5's wait_for_operation: an operation id that does not exist (or any failed poll)
    ends the wait at once with status 2, instead of polling forever."""
    w = world
    blocks = {b.key: b for b in guide_blocks(GUIDE.read_text())}
    script = script_of([blocks["Before you start #2"], blocks["5. Roll out: canary, then everyone #1"]], w)
    run = run_script(script + 'set +e\nwait_for_operation no-such-operation; echo "rc=$?"\n', w)
    assert "rc=2" in run.stdout and "could not read operation no-such-operation" in run.stderr, run.stderr[-2000:]
