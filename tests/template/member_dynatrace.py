"""What test_member.py needs to know of templates/dynatrace.yaml (see member_datadog.py)."""

import re

PRODUCTION_URL = "https://abc12345.apps.dynatrace.com"
REQUIRED = {"EnvironmentUrl": PRODUCTION_URL}
REGISTRATIONS = {"DynatraceRegistration": "DynatraceMonitoringRole", "DynatraceRoleBinding": "DynatraceMonitoringRole"}
STEPS = set()
RESOURCES = {"DynatraceRegistration", "DynatraceMonitoringRole", "DynatraceRoleBinding", "DynatracePermissionsBoundary"}
PARAMETER = re.compile(r"^(EnvironmentUrl|MonitoringConfigId|LogIngest|EventIngest|Ingest|EventSources|UseCustomerManagedKey)$")
MORE_PROPERTIES = set()
# The function role's statements of the vendor's own, after the shared ones.
FUNCTION_SIDS = set()
# Whether the role is created before the registration (the external id is known up front).
ROLE_FIRST = False

# See member_datadog.py.
PARTITIONS = ["aws"]
IN_PARTITION = {}
DECIDING = {
    "EnvironmentUrl": [PRODUCTION_URL, "https://abc12345.sprint.apps.dynatracelabs.com"],
    "MonitoringConfigId": ["", "abc-def"],
}
