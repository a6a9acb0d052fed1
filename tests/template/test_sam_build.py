"""`sam build` of every member template (templates/<vendor>.yaml), offline: opt-in with REGISTRAR_SAM_BUILD=1.

It needs the SAM CLI, cargo-lambda and Zig on PATH (all three from PyPI: aws-sam-cli,
cargo-lambda, ziglang) and Rust's aarch64-unknown-linux-gnu standard library (cargo-lambda runs
`rustup target add` for it when missing). A release build with LTO takes a few minutes, which is
why it does not run by default.
"""

import os
import shutil
import subprocess
import sys

import pytest
from cfnlint.decode import decode

from cfn import MEMBER, ROOT

ELF_MACHINE_AARCH64 = 0xB7

pytestmark = pytest.mark.skipif(
    os.environ.get("REGISTRAR_SAM_BUILD") != "1", reason="set REGISTRAR_SAM_BUILD=1 to run sam build (minutes)"
)


@pytest.mark.parametrize("vendor", sorted(MEMBER))
def test_sam_build_produces_an_arm64_bootstrap_and_a_plain_template(vendor, tmp_path):
    sam = shutil.which("sam")
    assert sam, "REGISTRAR_SAM_BUILD=1 but `sam` is not on PATH (pip install aws-sam-cli cargo-lambda ziglang)"
    build_dir = tmp_path / "build"
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", SAM_CLI_BETA_RUST_CARGO_LAMBDA="1")
    result = subprocess.run(
        [sam, "build", "--template-file", str(MEMBER[vendor]), "--build-dir", str(build_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    built = build_dir / "template.yaml"
    template, matches = decode(str(built))
    assert not matches
    assert "Transform" not in template
    code = build_dir / template["Resources"]["Function"]["Properties"]["Code"]
    binary = code / "bootstrap"
    header = binary.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", "bootstrap is not an ELF executable"
    assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, "bootstrap is not built for arm64"
    assert os.access(binary, os.X_OK)

    lint = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", str(built)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (lint.returncode, lint.stdout) == (0, "")
