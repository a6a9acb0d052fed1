"""docs/deploy.md's step 1.3 turns a member template ($TEMPLATE: templates/<vendor>.yaml) into
packaged.yaml with one `sed` line: the function's `Code: ..` becomes the bucket and key the zip
of `make zip` was uploaded to. This runs that very line (taken from the guide) on every member
template and checks what CloudFormation would get: the one function's code in S3, nothing else
changed, and a template cfn-lint accepts in every region."""

import os
import re
import subprocess

import pytest
from cfnlint.decode import decode

from cfn import MEMBER, ROOT, cfn_lint

GUIDE = ROOT / "docs" / "deploy.md"
BUCKET = "registrar-artifacts-111122223333-eu-west-1"
CODE_KEY = "registrar/0123456789abcdef/bootstrap.zip"


def packaging_line():
    lines = [line for line in GUIDE.read_text().splitlines()
             if line.startswith("sed ") and '"$TEMPLATE" > packaged.yaml' in line]
    assert len(lines) == 1, f"docs/deploy.md should have one sed line making packaged.yaml, has {len(lines)}"
    return lines[0]


def run_sed(template, tmp_path):
    """packaged.yaml as the guide's sed line makes it from `template`, run from a repository copy."""
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / template.name).write_text(template.read_text())
    env = dict(os.environ, BUCKET=BUCKET, CODE_KEY=CODE_KEY, TEMPLATE=f"templates/{template.name}")
    subprocess.run(["bash", "-euo", "pipefail", "-c", packaging_line()], cwd=tmp_path, env=env, check=True, timeout=30)
    return tmp_path / "packaged.yaml"


@pytest.mark.parametrize("vendor", sorted(MEMBER))
def test_the_guides_sed_line_puts_the_zip_in_the_function_code(vendor, tmp_path):
    packaged_path = run_sed(MEMBER[vendor], tmp_path)
    original_text = MEMBER[vendor].read_text()
    packaged_text = packaged_path.read_text()
    changed = [(a, b) for a, b in zip(original_text.splitlines(), packaged_text.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0].strip() == "Code: ..", changed

    packaged, matches = decode(str(packaged_path))
    assert not matches
    assert packaged["Resources"]["Function"]["Properties"]["Code"] == {"S3Bucket": BUCKET, "S3Key": CODE_KEY}
    assert "Transform" not in packaged
    assert cfn_lint("packaged.yaml", cwd=tmp_path) == (0, "")


def test_the_guides_code_key_names_the_zip_make_zip_writes():
    guide = GUIDE.read_text()
    assert re.search(r"sha256sum target/lambda/bootstrap/bootstrap\.zip", guide)
    assert "aws s3 cp target/lambda/bootstrap/bootstrap.zip \"s3://$BUCKET/$CODE_KEY\"" in guide
    makefile = (ROOT / "Makefile").read_text()
    assert "cargo lambda build --release --arm64 --output-format zip --bin bootstrap" in makefile
