"""Every template fits CloudFormation's TemplateBody limit with room to spare, as written and
after every packaging route docs/deploy.md documents: at most 80 % of the 51,200 bytes that
CreateStackSet, UpdateStackSet and CreateStack accept as TemplateBody (AWS CloudFormation quotas,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).

The routes, measured on their real output:
- `sed`: the guide's step 1.3 line (test_packaging.py runs it too);
- `sam build`: SAM re-serialises the template (comments go, flow mappings become block ones,
  strings get quoted) and adds `SamResourceId` to the function's Metadata; the compiler is
  replaced by a stub that writes a placeholder `bootstrap` (SAM's template does not depend on
  the binary, and a release build takes minutes);
- `sam build` then `sam package`: the built template with the code in S3 (a bucket in moto).

The SAM routes need the SAM CLI: `$REGISTRAR_SAM` (the path of `sam`) or `sam` on PATH; `make
template` installs the pinned one (tests/requirements-sam.txt) into .venv-sam and sets it.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cfn import MEMBER, ROOT, TEMPLATES, load
from test_packaging import run_sed

TEMPLATE_BODY_LIMIT = 51_200
BUDGET = TEMPLATE_BODY_LIMIT * 80 // 100  # 40,960
BUCKET = "registrar-artifacts-111122223333-eu-west-1"
# As the guide's --s3-prefix makes it: registrar/$(git describe --always --dirty).
PREFIX = "registrar/v1.2.3-45-g0123456789ab-dirty"
ALL = sorted(TEMPLATES.glob("*.yaml"))
PACKAGED = sorted(MEMBER.values())  # the templates with code to package

STUB_CARGO = """#!/usr/bin/env bash
# cargo for `sam build`: `cargo metadata` is the real one; `cargo lambda build` writes a
# placeholder where cargo-lambda puts the binary (target/lambda/bootstrap/bootstrap).
set -euo pipefail
if [ "${1:-}" = "lambda" ]; then
  mkdir -p "$CARGO_TARGET_DIR/lambda/bootstrap"
  printf 'placeholder\\n' > "$CARGO_TARGET_DIR/lambda/bootstrap/bootstrap"
  chmod +x "$CARGO_TARGET_DIR/lambda/bootstrap/bootstrap"
  exit 0
fi
exec "$REAL_CARGO" "$@"
"""


def sam():
    path = os.environ.get("REGISTRAR_SAM") or shutil.which("sam")
    if not path:
        pytest.skip("the SAM CLI is not installed: set REGISTRAR_SAM or run `make template`")
    return path


def sam_env(tmp_path):
    stub = tmp_path / "stub"
    stub.mkdir(exist_ok=True)
    (stub / "cargo").write_text(STUB_CARGO)
    (stub / "cargo-lambda").write_text("#!/bin/sh\nexit 0\n")
    for tool in stub.iterdir():
        tool.chmod(0o755)
    return dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}", REAL_CARGO=shutil.which("cargo"),
                CARGO_TARGET_DIR=str(tmp_path / "cargo-target"), SAM_CLI_TELEMETRY="0",
                SAM_CLI_BETA_RUST_CARGO_LAMBDA="1")


def sam_build(template, tmp_path):
    build_dir = tmp_path / "build"
    done = subprocess.run([sam(), "build", "--template-file", str(template), "--build-dir", str(build_dir)],
                          cwd=ROOT, env=sam_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return build_dir / "template.yaml"


def sam_package(built, tmp_path):
    from sandbox import MotoServer

    with MotoServer() as moto:
        moto.client("s3", "eu-west-1").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        env = dict(sam_env(tmp_path), AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_CONFIG_FILE="/nonexistent/aws-config",
                   AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials")
        packaged = tmp_path / "packaged.yaml"
        done = subprocess.run([sam(), "package", "--template-file", str(built), "--region", "eu-west-1",
                               "--s3-bucket", BUCKET, "--s3-prefix", PREFIX, "--output-template-file", str(packaged)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return packaged


def route(name, template, tmp_path):
    """The file a packaging route makes of `template`."""
    if name == "as-written":
        return template
    if name == "sed":
        return run_sed(template, tmp_path)
    built = sam_build(template, tmp_path)
    return built if name == "sam-build" else sam_package(built, tmp_path)


ROUTES = ["as-written", "sed", "sam-build", "sam-build+sam-package"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_template_as_written_is_within_budget(path):
    assert len(path.read_bytes()) <= BUDGET, f"{path.name}: {len(path.read_bytes())} bytes"


@pytest.mark.parametrize("name", ROUTES[1:])
@pytest.mark.parametrize("path", PACKAGED, ids=lambda p: p.name)
def test_every_packaging_route_stays_within_budget(path, name, tmp_path):
    result = route(name, path, tmp_path)
    size = len(result.read_bytes())
    assert size <= BUDGET, f"{path.name} after {name}: {size} bytes, over {BUDGET}"
    template = load(result)
    assert set(template["Resources"]) == set(load(path)["Resources"]), "the same template"
    code = template["Resources"]["Function"]["Properties"]["Code"]
    if name == "sam-build":
        assert (result.parent / code / "bootstrap").is_file()
    else:
        assert code["S3Bucket"] == BUCKET, code


def measure(tmp_root: Path):
    """{template name: {route: bytes}}, for the closing note (python -c 'import test_size; ...')."""
    out = {}
    for path in ALL:
        out[path.name] = {}
        for index, name in enumerate(ROUTES if path in PACKAGED else ROUTES[:1]):
            work = tmp_root / f"{path.stem}-{index}"
            work.mkdir(parents=True, exist_ok=True)
            out[path.name][name] = len(route(name, path, work).read_bytes())
    return out
