"""Every template fits CloudFormation's TemplateBody limit with room to spare: at most 80 % of
51,200 bytes (the CreateStackSet/CreateStack TemplateBody limit, AWS CloudFormation quotas:
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html)."""

import pytest

from cfn import TEMPLATES

TEMPLATE_BODY_LIMIT = 51_200
BUDGET = TEMPLATE_BODY_LIMIT * 80 // 100  # 40,960


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.yaml")), ids=lambda p: p.name)
def test_template_as_written_is_within_budget(path):
    assert len(path.read_bytes()) <= BUDGET
