"""The rules every vendor keeps, run for each vendor Registrar knows (sandbox/vendors.json)
through the real binary against its emulator: lifecycle (create, idempotent create, update in
place, delete, delete of what is gone), ownership (someone else's registration is a conflict
that survives the rollback; another stack's is a conflict; adopt takes it over), resilience
(a vanished registration, a lost, failed or unreadable answer to the registering call) and a
small fault matrix (many accounts at once with random 5xx: one registration each, none left).

Each vendor's adapter (conformance_<vendor>.py) says how to read its emulator; the rules here
name no vendor. A vendor that breaks a rule fails here, whatever its own suite says.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance import ACCOUNT, VENDOR_NAMES, adapter
from contract import MARKER_PREFIX, UNCONFIRMED_PREFIX, answered


@pytest.fixture(params=VENDOR_NAMES)
def vendor(request, sandbox):
    return adapter(request.param, sandbox)


def ours(vendor, stack) -> list[str]:
    return [h.id for h in vendor.held(stack) if h.ours and h.account == stack.account]


def test_create_is_idempotent_update_is_in_place_delete_removes(sandbox, vendor):
    sb = sandbox
    secret = vendor.secret()
    stack = sb.stack()
    fn = sb.function(vendor.env())
    props = vendor.props(secret)
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    pid = created["PhysicalResourceId"]
    assert pid.startswith(f"registrar:{vendor.name}:") and f":{ACCOUNT}:" in pid
    assert ours(vendor, stack) == [vendor.registration_id(pid)]
    again = answered(fn.invoke(stack.create(props)), "SUCCESS")
    assert again["PhysicalResourceId"] == pid and len(vendor.held(stack)) == 1, "a retried Create reuses"
    new = vendor.changed(props)
    updated = answered(fn.invoke(stack.update(pid, new, props)), "SUCCESS")
    assert updated["PhysicalResourceId"] == pid and ours(vendor, stack) == [vendor.registration_id(pid)]
    answered(fn.invoke(stack.delete(pid, new)), "SUCCESS")
    assert vendor.held(stack) == []
    answered(fn.invoke(stack.delete(pid, new)), "SUCCESS")  # not found is success


def test_someone_elses_registration_is_a_conflict_and_survives_the_rollback(sandbox, vendor):
    sb = sandbox
    theirs = vendor.seed_someone_elses()
    stack = sb.stack()
    props = vendor.props(vendor.secret())
    failed = answered(sb.invoke(stack.create(props), vendor.env()), "FAILED")
    assert failed["PhysicalResourceId"].startswith(MARKER_PREFIX) and "OnConflict" in failed["Reason"]
    answered(sb.invoke(stack.delete(failed["PhysicalResourceId"], props), vendor.env()), "SUCCESS")
    assert [h.id for h in vendor.held(stack)] == [theirs], "their registration was kept"
    assert not any(h.ours for h in vendor.held(stack))


def test_another_stacks_registration_is_a_conflict(sandbox, vendor):
    sb = sandbox
    other = vendor.seed_other_stacks()
    stack = sb.stack()
    props = vendor.props(vendor.secret())
    failed = answered(sb.invoke(stack.create(props), vendor.env()), "FAILED")
    assert "another Registrar stack" in failed["Reason"]
    answered(sb.invoke(stack.delete(failed["PhysicalResourceId"], props), vendor.env()), "SUCCESS")
    assert [h.id for h in vendor.held(stack)] == [other]


def test_adopt_takes_the_registration_over_and_delete_then_removes_it(sandbox, vendor):
    sb = sandbox
    theirs = vendor.seed_someone_elses()
    stack = sb.stack()
    props = vendor.props(vendor.secret(), OnConflict="adopt")
    adopted = answered(sb.invoke(stack.create(props), vendor.env()), "SUCCESS")
    assert vendor.registration_id(adopted["PhysicalResourceId"]) == theirs
    assert ours(vendor, stack) == [theirs]
    answered(sb.invoke(stack.delete(adopted["PhysicalResourceId"], props), vendor.env()), "SUCCESS")
    assert vendor.held(stack) == []


def test_a_registration_that_vanished_is_made_again_on_update(sandbox, vendor):
    sb = sandbox
    stack = sb.stack()
    props = vendor.props(vendor.secret())
    pid = answered(sb.invoke(stack.create(props), vendor.env()), "SUCCESS")["PhysicalResourceId"]
    vendor.remove(vendor.registration_id(pid))
    updated = answered(sb.invoke(stack.update(pid, props, props), vendor.env()), "SUCCESS")
    assert ours(vendor, stack) == [vendor.registration_id(updated["PhysicalResourceId"])]


def test_delete_of_what_is_gone_succeeds_and_touches_nothing_else(sandbox, vendor):
    sb = sandbox
    stack = sb.stack()
    props = vendor.props(vendor.secret())
    pid = answered(sb.invoke(stack.create(props), vendor.env()), "SUCCESS")["PhysicalResourceId"]
    vendor.remove(vendor.registration_id(pid))
    theirs = vendor.seed_someone_elses()
    answered(sb.invoke(stack.delete(pid, props), vendor.env()), "SUCCESS")
    assert [h.id for h in vendor.held(stack)] == [theirs]


@pytest.mark.parametrize("fault", [{"drop_response": True}, {"status": 503}, {"close": True}],
                         ids=["answer-lost", "503", "connection-closed"])
def test_a_registering_call_that_fails_transiently_makes_one_registration(sandbox, vendor, fault):
    sb = sandbox
    vendor.emulator.add_fault(vendor.create_method, vendor.create_path, [fault])
    stack = sb.stack()
    props = vendor.props(vendor.secret())
    inv = sb.invoke(stack.create(props), vendor.env())
    body = inv.cfn.body_json
    held = vendor.held(stack)
    assert len(held) <= 1, f"{len(held)} registrations for one account"
    if body["Status"] == "SUCCESS":
        assert ours(vendor, stack) == [vendor.registration_id(body["PhysicalResourceId"])]
    else:
        # Allowed only as "unconfirmed": its Delete must leave nothing of this stack's behind.
        assert body["PhysicalResourceId"].startswith(UNCONFIRMED_PREFIX), body
        answered(sb.invoke(stack.delete(body["PhysicalResourceId"], props), vendor.env()), "SUCCESS")
        assert ours(vendor, stack) == []


def test_an_unreadable_answer_to_the_registering_call_is_never_a_duplicate(sandbox, vendor):
    sb = sandbox
    vendor.emulator.add_fault(vendor.create_method, vendor.create_path, [{"malformed": True}])
    stack = sb.stack()
    props = vendor.props(vendor.secret())
    body = sb.invoke(stack.create(props), vendor.env()).cfn.body_json
    assert len(vendor.held(stack)) <= 1
    answered(sb.invoke(stack.delete(body["PhysicalResourceId"], props), vendor.env()), "SUCCESS")
    assert ours(vendor, stack) == [], "nothing of this stack's is left after the Delete"


ACCOUNTS, CONCURRENCY, ERROR_RATE = 20, 10, 0.1


def test_many_accounts_at_once_with_random_5xx_one_registration_each_none_left(sandbox, vendor):
    sb = sandbox
    vendor.emulator.set_error_rate(ERROR_RATE)
    secret = vendor.secret()
    stacks = [sb.stack(account=str(300000000000 + i)) for i in range(ACCOUNTS)]

    def create(stack):
        return stack, sb.invoke(stack.create(vendor.props(secret)), vendor.env(), timeout_s=60).cfn.body_json

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        created = list(pool.map(create, stacks))
    assert [b["Status"] for _, b in created] == ["SUCCESS"] * ACCOUNTS, [b.get("Reason") for _, b in created][:3]
    for stack, body in created:
        assert ours(vendor, stack) == [vendor.registration_id(body["PhysicalResourceId"])], stack.account
    assert len(vendor.held(stacks[0])) == ACCOUNTS, "one registration per account"

    def delete(pair):
        stack, body = pair
        return sb.invoke(stack.delete(body["PhysicalResourceId"], vendor.props(secret)), vendor.env(),
                         timeout_s=60).cfn.body_json["Status"]

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        assert list(pool.map(delete, created)) == ["SUCCESS"] * ACCOUNTS
    assert vendor.held(stacks[0]) == []
