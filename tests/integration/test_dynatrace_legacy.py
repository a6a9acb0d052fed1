"""Role bindings made by earlier releases, through the real binary: their account joined one
monitoring configuration shared by every account (the binding's scope is that configuration's
id). New bindings never write a shared configuration; these ones must still leave it correctly,
against Dynatrace's documented monitoring-configuration API, where a PUT overwrites whatever
another writer wrote since it read (no token, no 409).
"""

from __future__ import annotations

from contract import answered
from dynatrace_events import (ACCOUNT, account_configs, binding, binding_id, binding_props, our_name, own_scope,
                              role_arn)
from sandbox.dynatrace import MONITORING_PATH

OTHERS = [f"{300000000000 + i}" for i in range(3)]


def legacy_setup(sb):
    """A registration, its role bound, and its account in a shared configuration with others,
    as the previous release left them; (stack, function, secret ARN, connection id, shared id)."""
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid))), "SUCCESS")
    entries = [{"description": f"registrar-{a}", "enabled": True, "connectionId": f"conn-{a}", "accountId": a}
               for a in OTHERS]
    entries.insert(1, {"description": our_name(stack), "enabled": True, "connectionId": oid, "accountId": ACCOUNT})
    shared = dt.add_monitoring_config("shared by every account", credentials=entries, enabled=True)
    return stack, fn, arn, oid, shared


def test_a_legacy_binding_leaves_the_shared_configuration_and_repairs_a_stale_write(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    stack, fn, arn, oid, shared = legacy_setup(sb)
    # Another writer read the configuration just before this Delete's write, and writes its
    # copy back 0.3 s after it: the documented last-writer-wins race, made deterministic.
    dt.stale_writer(shared, delay_s=0.3)
    legacy = binding_id(oid, shared)
    answered(fn.invoke(binding(stack, "Delete", binding_props(sb, arn, oid, shared), legacy)), "SUCCESS")
    assert dt.counters.stale_writes == 1, "the stale copy was written back"
    assert [c["accountId"] for c in dt.credentials(shared)] == OTHERS, "out, and every other account kept"
    puts = dt.requests_matching("PUT", MONITORING_PATH)
    assert len(puts) == 2 and all("updateToken" not in p.json() for p in puts), "written twice, as documented"
    assert dt.connection(oid) is not None, "the binding's Delete keeps the registration"
    assert dt.monitoring_config(shared) is not None, "a shared configuration is never deleted"


def test_a_legacy_binding_updated_moves_the_account_to_its_own_configuration(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    stack, fn, arn, oid, shared = legacy_setup(sb)
    legacy = binding_id(oid, shared)
    props = binding_props(sb, arn, oid, shared)
    updated = answered(fn.invoke(binding(stack, "Update", props, legacy, props)), "SUCCESS")
    [own] = account_configs(dt, oid)
    assert own["objectId"] != shared
    assert updated["PhysicalResourceId"] == binding_id(oid, own_scope(own["objectId"]))
    assert [c["connectionId"] for c in own["value"]["aws"]["credentials"]] == [oid]
    assert [c["accountId"] for c in dt.credentials(shared)] == OTHERS
    # CloudFormation's cleanup Delete of the old id finds the account out already.
    mark = len(dt.requests)
    answered(fn.invoke(binding(stack, "Delete", props, legacy)), "SUCCESS")
    assert [r.method for r in dt.requests[mark:]] == ["GET"]
    assert [c["accountId"] for c in dt.credentials(shared)] == OTHERS
    assert [c["objectId"] for c in account_configs(dt, oid)] == [own["objectId"]]
    assert dt.connection(oid)["value"]["awsRoleBasedAuthentication"]["roleArn"] == role_arn()
