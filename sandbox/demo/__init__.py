"""`make demo`: one registration's whole life through the real binary, printed readably.

    .venv/bin/python -m sandbox.demo [--vendor datadog|dynatrace] [--logs]

`datadog` sends Create → Update → Delete; `dynatrace` runs the template's two-phase onboarding
(registration → role → role binding → Update → Delete). Both print, after each step, what
CloudFormation was told and what the vendor now holds, then the leak scan's verdict.
"""
