"""What test_member.py needs to know of templates/datadog.yaml (one module per vendor, named
member_<vendor>.py, so a new vendor's template brings its own and changes no shared test)."""

import re

from cfn import ACCOUNT_ID

# The parameters a stack needs beyond the defaults.
REQUIRED = {}
# The registrations (custom resources that read the secret) with the role they name, the other
# custom resources (steps after the role), and what a default stack creates besides the function.
REGISTRATIONS = {"VendorRegistration": "DatadogIntegrationRole"}
STEPS = {"DatadogRolePermissions"}
RESOURCES = {"VendorRegistration", "DatadogIntegrationRole", "DatadogRolePermissions", "DatadogPermissionsBoundary"}
# The vendor's own parameters: no other member template may have one.
PARAMETER = re.compile(r"^(Datadog|Disable|CloudSecurity)")
# Properties the vendor's resources pass besides the vendor's own (sandbox/vendors.json): the
# permissions step's access-key user (src/permissions/).
MORE_PROPERTIES = {"UserName"}
# The function role's statements of the vendor's own, after the shared ones.
FUNCTION_SIDS = {"WriteDatadogInlinePolicy", "AttachDatadogPolicies", "ManageDatadogPolicies", "FindDatadogPolicies"}
# Whether the role is created before the registration (the external id is known up front).
ROLE_FIRST = False

# The partitions its stacks deploy to, what a stack in one of them needs besides (aws-cn: access
# keys), and the values of its own parameters that decide its conditions (test_member.py).
PARTITIONS = ["aws", "aws-cn"]
IN_PARTITION = {"aws-cn": {"DatadogAuthType": "access-keys"}}
DECIDING = {
    "DatadogRegions": ["", "us-east-1"],
    "DatadogIncludeNamespaces": ["", "AWS/EC2"],
    "DatadogExcludeNamespaces": ["", "AWS/SQS"],
    "DatadogMetricTagFilters": ["", "AWS/EC2:env:prod"],
    "DatadogMetricNameFilters": ["", "AWS/EC2:aws.ec2.cpu*"],
    "DatadogLogSourceTagFilters": ["", "s3:env:prod"],
    "DatadogLogForwarderArns": ["", "arn:aws:lambda:us-east-1:444455556666:function:fwd"],
    "DatadogLogSources": ["", "s3"],
    "DatadogXRayServices": ["", "all"],
}
