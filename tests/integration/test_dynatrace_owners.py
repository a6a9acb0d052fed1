"""Owner-based access control on Dynatrace's AWS connections, through the real binary.

A connection is visible to the Dynatrace user whose token made it and to those it is shared
with; anyone else's list leaves it out, and their GET, PUT or DELETE of it answers 404 (as for
an id that never existed) or 403. When the token in the secret changes to another user's, a
Create must not make a second connection for the account, and a Delete must not report success
while the connection stays behind, unseen.
"""

from __future__ import annotations

import pytest

from contract import MARKER_PREFIX, answered
from dynatrace_events import account_configs, binding, binding_id, binding_props, our_name, own_scope, registration_id
from sandbox.dynatrace import SETTINGS_PATH

OTHER_TOKEN = "dt0s16.ANOTHERUSER00000000000000.0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"


def other_owner(sb) -> tuple[str, str]:
    """A token of another Dynatrace user, in a secret of its own; (secret ARN, user id)."""
    user = sb.dynatrace.add_token(OTHER_TOKEN)
    return sb.dynatrace_secret(token=OTHER_TOKEN, name="dynatrace-other-user"), user


def test_a_create_with_another_users_token_does_not_make_a_second_connection(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    created = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")
    oid = created["Data"]["RegistrationId"]
    assert created["Data"]["ConnectionOwner"] == f"user:{dt.user}"

    # The token in the secret is now another user's: the connection is invisible to it.
    other_arn, _ = other_owner(sb)
    props = sb.dynatrace_props(other_arn)
    failed = answered(fn.invoke(stack.create(props)), "FAILED")
    reason = failed["Reason"]
    assert our_name(stack) in reason and "cannot see it" in reason and "ConnectionOwner" in reason, reason
    assert "did not create a second connection" in reason, reason
    assert failed["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert [c["objectId"] for c in dt.connections()] == [oid], "no duplicate connection"
    # Its rollback Delete touches nothing.
    answered(fn.invoke(stack.delete(failed["PhysicalResourceId"], props)), "SUCCESS")
    assert [c["objectId"] for c in dt.connections()] == [oid]

    # An Update with the other token cannot see the registration either: no second one.
    failed = answered(fn.invoke(stack.update(created["PhysicalResourceId"], props, sb.dynatrace_props(arn))),
                      "FAILED")
    assert failed["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert "cannot tell whether it is gone" in failed["Reason"], failed["Reason"]
    assert [c["objectId"] for c in dt.connections()] == [oid]


@pytest.mark.parametrize("hidden_status", [404, 403])
def test_a_delete_with_another_users_token_does_not_report_an_orphan_deleted(sandbox, hidden_status):
    sb = sandbox
    dt = sb.dynatrace
    dt.set_hidden_status(hidden_status)
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    created = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")
    oid = created["Data"]["RegistrationId"]
    answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid))), "SUCCESS")

    other_arn, other_user = other_owner(sb)
    props = sb.dynatrace_props(other_arn)
    failed = answered(fn.invoke(stack.delete(created["PhysicalResourceId"], props)), "FAILED")
    reason = failed["Reason"]
    assert failed["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert "OnDeleteError" in reason and ("owner" in reason), reason
    if hidden_status == 404:
        assert oid in reason and "not visible" in reason and "share" in reason, reason
    assert dt.connection(oid) is not None, "the connection is still there"

    # OnDeleteError=retain lets the stack go, and the log names the orphan.
    retained = answered(fn.invoke(stack.delete(created["PhysicalResourceId"], dict(props, OnDeleteError="retain"))),
                        "SUCCESS")
    assert retained["PhysicalResourceId"] == created["PhysicalResourceId"]
    orphan_lines = [line.text for line in fn.log_lines if '"orphan"' in line.text]
    assert orphan_lines and created["PhysicalResourceId"] in orphan_lines[-1], orphan_lines
    assert dt.connection(oid) is not None

    # Shared with the new token's user, the connection is deleted for real.
    dt.share(oid, other_user, write=True)
    answered(fn.invoke(stack.delete(created["PhysicalResourceId"], props)), "SUCCESS")
    assert dt.connections() == []


def test_a_binding_with_another_users_token_says_whose_connection_it_cannot_see(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    template = dt.add_monitoring_config("template")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    other_arn, _ = other_owner(sb)
    failed = answered(fn.invoke(binding(stack, "Create", binding_props(sb, other_arn, oid, template))), "FAILED")
    assert "not visible" in failed["Reason"] and "deleted out of band" not in failed["Reason"], failed["Reason"]
    assert account_configs(dt, oid) == [] and dt.connection(oid)["value"]["awsRoleBasedAuthentication"]["roleArn"] == ""


def test_one_service_user_for_the_whole_lifecycle_needs_no_sharing(sandbox):
    """The deploy guide's advice: one service user's token throughout. A second token of the
    same user sees everything the first made."""
    sb = sandbox
    dt = sb.dynatrace
    template = dt.add_monitoring_config("template")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    created = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")
    oid = created["Data"]["RegistrationId"]
    bprops = binding_props(sb, arn, oid, template)
    bound = answered(fn.invoke(binding(stack, "Create", bprops)), "SUCCESS")

    rotated = OTHER_TOKEN.replace("ANOTHERUSER", "ROTATEDTOKN")
    dt.add_token(rotated, user=dt.user)  # a new token of the same service user
    rotated_arn = sb.dynatrace_secret(token=rotated, name="dynatrace-rotated")
    rprops = binding_props(sb, rotated_arn, oid, template)
    [own] = account_configs(dt, oid)
    answered(fn.invoke(binding(stack, "Delete", rprops, bound["PhysicalResourceId"])), "SUCCESS")
    assert bound["PhysicalResourceId"] == binding_id(oid, own_scope(own["objectId"]))
    answered(fn.invoke(stack.delete(registration_id(oid), sb.dynatrace_props(rotated_arn))), "SUCCESS")
    assert dt.connections() == [] and dt.monitoring_configs() == [dt.monitoring_config(template)]
    assert [r.status for r in dt.requests_matching("DELETE", SETTINGS_PATH)] == [404], \
        "Dynatrace removed the connection with its configuration; the rotated token saw it gone"
