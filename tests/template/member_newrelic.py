"""What test_member.py needs to know of templates/newrelic.yaml (see member_datadog.py)."""

import re

REQUIRED = {"NewRelicAccountId": "1234567"}
REGISTRATIONS = {"NewRelicRegistration": "NewRelicIntegrationRole"}
STEPS = set()
RESOURCES = {"NewRelicRegistration", "NewRelicIntegrationRole", "NewRelicPermissionsBoundary"}
PARAMETER = re.compile(r"^(NewRelic|MetricCollectionMode)")
MORE_PROPERTIES = set()
# The function role's statements of the vendor's own, after the shared ones.
FUNCTION_SIDS = set()
# Whether the role is created before the registration (the external id is known up front).
ROLE_FIRST = True

# See member_datadog.py.
PARTITIONS = ["aws", "aws-us-gov"]
IN_PARTITION = {}
DECIDING = {
    "NewRelicRegion": ["US", "EU"],
    "MetricCollectionMode": ["PULL", "PUSH"],
}
