//! The rules, as the handler applies them (the plan, then its step), against an in-memory
//! vendor that keeps registrations in a vector.

use std::sync::OnceLock;

use secrecy::SecretString;

use super::*;
use crate::BoxFuture;
use crate::cfn::Status;
use crate::identity::{Identity, Partition};
use crate::integrations::{Owner, StackMark};
use crate::physical_id::PhysicalId;
use crate::props::{OnConflict, Phase};

mod looking_first;
mod memory;
mod unconfirmed;

use memory::*;

fn common(on_conflict: OnConflict, on_delete_error: OnDeleteError) -> Common {
    Common {
        secret: crate::secrets::SecretRef::parse(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
            None,
        )
        .unwrap(),
        role_name: "DatadogIntegrationRole".into(),
        identity: Identity {
            account: AccountId::parse("123456789012").unwrap(),
            partition: Partition::Aws,
        },
        on_conflict,
        on_delete_error,
    }
}

/// The keys Memory needs: none.
struct NoKeys;

impl SecretSource for NoKeys {
    fn read<'a>(
        &'a self,
        _: &'a SecretRef,
        _: &'a str,
        _: &'a Progress,
        _: Instant,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>> {
        Box::pin(async { Ok(SecretString::from("{}".to_owned())) })
    }
}

fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| crate::http::client().unwrap())
        .clone()
}

async fn run(
    world: &Shared,
    common: &Common,
    request_type: RequestType,
    physical_id: Option<&str>,
    site: &str,
) -> Outcome {
    run_as("req-1", world, common, request_type, physical_id, site).await
}

async fn run_as(
    request_id: &str,
    world: &Shared,
    common: &Common,
    request_type: RequestType,
    physical_id: Option<&str>,
    site: &str,
) -> Outcome {
    let incoming = physical_id.map(PhysicalId::parse);
    let plan = plan(request_type, incoming.as_ref(), Ok(&Phase::Registration));
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    let refuses = !world.lock().unwrap().looks_first;
    let outcome = match plan.clone() {
        Plan::Integration(step) if refuses => {
            step_with::<true>(
                step,
                request_type,
                request_id,
                physical_id,
                common,
                world,
                site,
                deadline,
            )
            .await
        }
        Plan::Integration(step) => {
            step_with::<false>(
                step,
                request_type,
                request_id,
                physical_id,
                common,
                world,
                site,
                deadline,
            )
            .await
        }
        // As the handler answers it.
        Plan::Nothing => Outcome::success(
            failed_id(request_type, physical_id, request_id),
            BTreeMap::new(),
        ),
        other => panic!("not a registration's plan: {other:?}"),
    };
    plan.answer(outcome)
}

/// Runs `step` with the in-memory vendor of one strategy.
#[allow(clippy::too_many_arguments)]
async fn step_with<const REFUSES: bool>(
    step: Step,
    request_type: RequestType,
    request_id: &str,
    physical_id: Option<&str>,
    common: &Common,
    world: &Shared,
    site: &str,
    deadline: Instant,
) -> Outcome {
    let event = Event::<Memory<REFUSES>> {
        request_type,
        request_id,
        incoming: physical_id,
        common,
        settings: Place {
            location: site.to_owned(),
            world: world.clone(),
        },
        desired: Desired {
            identity: common.identity.clone(),
            role_name: common.role_name.clone(),
            stack: StackMark {
                region: "us-east-1".into(),
                stack_name: "s".into(),
            },
            claims: None,
        },
        deadline,
        connector: Connector {
            secrets: &NoKeys,
            secret: &common.secret,
            account: &common.identity.account,
            http: VendorHttp::new(client(), "Memory", deadline, Progress::default()),
        },
    };
    super::run(step, event).await
}

fn defaults() -> Common {
    common(OnConflict::Fail, OnDeleteError::Fail)
}

fn someone_elses(world: &Shared, location: &str) -> Stored {
    let stored = Stored {
        id: "theirs".into(),
        location: location.into(),
        owner: Owner::Someone,
        settings_applied: 0,
        created_by: None,
        claimed_by: None,
        unusable: false,
    };
    world.lock().unwrap().stored.push(stored.clone());
    stored
}

#[tokio::test]
async fn create_registers_and_names_the_registration() {
    let world = Shared::default();
    let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(
        outcome.physical_resource_id,
        "registrar:datadog:one:aws:123456789012:reg-1"
    );
    assert_eq!(outcome.data["ExternalId"], "ext-reg-1");
    assert_eq!(outcome.data["RegistrationId"], "reg-1");
    assert_eq!(outcome.data["PrincipalAccountId"], "464622532012");
}

#[tokio::test]
async fn a_repeated_create_reuses_its_own_registration() {
    let world = Shared::default();
    let first = run(&world, &defaults(), RequestType::Create, None, "one").await;
    let second = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(first.physical_resource_id, second.physical_resource_id);
    assert_eq!(world.lock().unwrap().stored.len(), 1);
}

#[tokio::test]
async fn a_conflict_fails_with_a_marker_and_the_rollback_touches_nothing() {
    let world = Shared::default();
    let theirs = someone_elses(&world, "one");
    let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(outcome.status, Status::Failed);
    assert!(
        outcome
            .physical_resource_id
            .starts_with("registrar:create-failed:")
    );
    assert!(outcome.reason.unwrap().contains("OnConflict"));
    let connects = world.lock().unwrap().connects;
    let rollback = run(
        &world,
        &defaults(),
        RequestType::Delete,
        Some(&outcome.physical_resource_id),
        "one",
    )
    .await;
    assert_eq!(rollback.status, Status::Success);
    assert_eq!(
        world.lock().unwrap().connects,
        connects,
        "no vendor call for a marker"
    );
    assert_eq!(world.lock().unwrap().stored, vec![theirs]);
}

#[tokio::test]
async fn adopt_takes_over_the_existing_registration() {
    let world = Shared::default();
    someone_elses(&world, "one");
    let outcome = run(
        &world,
        &common(OnConflict::Adopt, OnDeleteError::Fail),
        RequestType::Create,
        None,
        "one",
    )
    .await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.data["RegistrationId"], "theirs");
    let stored = world.lock().unwrap().stored.clone();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].owner, Owner::ThisStack);
}

#[tokio::test]
async fn update_in_place_keeps_the_id_and_recreates_what_vanished() {
    let world = Shared::default();
    let created = run(&world, &defaults(), RequestType::Create, None, "one").await;
    let updated = run(
        &world,
        &defaults(),
        RequestType::Update,
        Some(&created.physical_resource_id),
        "one",
    )
    .await;
    assert_eq!(updated.physical_resource_id, created.physical_resource_id);
    assert_eq!(world.lock().unwrap().stored[0].settings_applied, 2);

    world.lock().unwrap().stored.clear();
    let recreated = run(
        &world,
        &defaults(),
        RequestType::Update,
        Some(&created.physical_resource_id),
        "one",
    )
    .await;
    assert_eq!(recreated.status, Status::Success);
    assert_ne!(recreated.physical_resource_id, created.physical_resource_id);
    assert_eq!(world.lock().unwrap().stored.len(), 1);
}

#[tokio::test]
async fn moving_location_is_a_replacement_and_the_old_one_is_deleted_after() {
    let world = Shared::default();
    let old = run(&world, &defaults(), RequestType::Create, None, "one").await;
    let new = run(
        &world,
        &defaults(),
        RequestType::Update,
        Some(&old.physical_resource_id),
        "two",
    )
    .await;
    assert_eq!(new.status, Status::Success);
    assert!(new.physical_resource_id.contains(":two:"));
    assert_eq!(world.lock().unwrap().stored.len(), 2);
    // CloudFormation's cleanup deletes the old id, even though the properties now say "two".
    let cleanup = run(
        &world,
        &defaults(),
        RequestType::Delete,
        Some(&old.physical_resource_id),
        "two",
    )
    .await;
    assert_eq!(cleanup.status, Status::Success);
    let stored = world.lock().unwrap().stored.clone();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].location, "two");
}

#[tokio::test]
async fn an_update_of_a_marker_acts_as_create() {
    let world = Shared::default();
    let outcome = run(
        &world,
        &defaults(),
        RequestType::Update,
        Some("registrar:create-failed:req-0"),
        "one",
    )
    .await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(world.lock().unwrap().stored.len(), 1);
}

#[tokio::test]
async fn a_failed_update_keeps_its_id() {
    let world = Shared::default();
    someone_elses(&world, "two");
    let old = "registrar:datadog:one:aws:123456789012:reg-9";
    let outcome = run(&world, &defaults(), RequestType::Update, Some(old), "two").await;
    assert_eq!(outcome.status, Status::Failed);
    assert_eq!(outcome.physical_resource_id, old);
}

#[tokio::test]
async fn delete_is_tolerant_of_gone_and_follows_on_delete_error() {
    let world = Shared::default();
    let id = "registrar:datadog:one:aws:123456789012:reg-404";
    assert_eq!(
        run(&world, &defaults(), RequestType::Delete, Some(id), "one")
            .await
            .status,
        Status::Success
    );

    world.lock().unwrap().delete_error = Some(VendorError::Refused {
        vendor: "Memory",
        call: "DELETE".into(),
        status: 403,
        message: "Forbidden".into(),
        hint: String::new(),
    });
    let failed = run(&world, &defaults(), RequestType::Delete, Some(id), "one").await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.physical_resource_id, id);
    assert!(failed.reason.unwrap().contains("OnDeleteError"));
    let retained = run(
        &world,
        &common(OnConflict::Fail, OnDeleteError::Retain),
        RequestType::Delete,
        Some(id),
        "one",
    )
    .await;
    assert_eq!(retained.status, Status::Success);
}

#[tokio::test(start_paused = true)]
async fn a_foreign_id_removes_only_this_stacks_registration() {
    let world = Shared::default();
    let theirs = someone_elses(&world, "one");
    let foreign = "2026/11/21/[$LATEST]abcdef";
    let outcome = run(
        &world,
        &defaults(),
        RequestType::Delete,
        Some(foreign),
        "one",
    )
    .await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(outcome.physical_resource_id, foreign);
    assert_eq!(world.lock().unwrap().stored, vec![theirs]);

    // CloudFormation cancelled a Create that registered the account anyway: the Delete
    // with the id CloudFormation made up removes it.
    let world = Shared::default();
    run(&world, &defaults(), RequestType::Create, None, "one").await;
    let outcome = run(
        &world,
        &defaults(),
        RequestType::Delete,
        Some("s-VendorRegistration-XYZ"),
        "one",
    )
    .await;
    assert_eq!(outcome.status, Status::Success);
    assert!(world.lock().unwrap().stored.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_foreign_id_waits_briefly_for_a_create_in_flight() {
    let world = Shared::default();
    let late_create = {
        let world = world.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            run(&world, &defaults(), RequestType::Create, None, "one").await
        })
    };
    let outcome = run(&world, &defaults(), RequestType::Delete, None, "one").await;
    assert_eq!(late_create.await.unwrap().status, Status::Success);
    assert_eq!(outcome.status, Status::Success);
    assert!(
        outcome
            .physical_resource_id
            .starts_with("registrar:create-failed:")
    );
    assert!(
        world.lock().unwrap().stored.is_empty(),
        "the late registration was removed"
    );
}

#[tokio::test]
async fn a_marker_delete_keeps_what_an_update_of_the_marker_made() {
    let world = Shared::default();
    let marker = "registrar:create-failed:req-0";
    let made = run(
        &world,
        &defaults(),
        RequestType::Update,
        Some(marker),
        "one",
    )
    .await;
    assert_eq!(made.status, Status::Success);
    let cleanup = run(
        &world,
        &defaults(),
        RequestType::Delete,
        Some(marker),
        "one",
    )
    .await;
    assert_eq!(cleanup.status, Status::Success);
    assert_eq!(world.lock().unwrap().stored.len(), 1);
    assert_eq!(
        world.lock().unwrap().connects,
        1,
        "no vendor call for a marker"
    );
}

#[tokio::test]
async fn a_create_on_the_happy_path_makes_one_vendor_call() {
    let world = Shared::default();
    let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(outcome.status, Status::Success);
    let world = world.lock().unwrap();
    assert_eq!((world.creates, world.finds, world.updates), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_unconfirmed_create_whose_registration_lands_is_removed_by_its_rollback() {
    let world = Shared::default();
    world.lock().unwrap().creating = Creating::Late;
    let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(
        outcome.physical_resource_id,
        "registrar:create-unconfirmed:req-1"
    );
    // The POST lands after all, marked as this stack's (no request recorded).
    world.lock().unwrap().stored.push(Stored {
        id: "late".into(),
        location: "one".into(),
        owner: Owner::ThisStack,
        settings_applied: 1,
        created_by: None,
        claimed_by: None,
        unusable: false,
    });
    let rollback = run_as(
        "req-5",
        &world,
        &defaults(),
        RequestType::Delete,
        Some(&outcome.physical_resource_id),
        "one",
    )
    .await;
    assert_eq!(rollback.status, Status::Success);
    assert!(world.lock().unwrap().stored.is_empty());
}

#[tokio::test]
async fn a_registration_the_vendor_cannot_switch_is_a_conflict_even_with_adopt() {
    for on_conflict in [OnConflict::Fail, OnConflict::Adopt] {
        let world = Shared::default();
        world.lock().unwrap().stored.push(Stored {
            id: "keys".into(),
            location: "one".into(),
            owner: Owner::Someone,
            settings_applied: 0,
            created_by: None,
            claimed_by: None,
            unusable: true,
        });
        let before = world.lock().unwrap().stored.clone();
        let common = common(on_conflict, OnDeleteError::Fail);
        let outcome = run(&world, &common, RequestType::Create, None, "one").await;
        assert_eq!(outcome.status, Status::Failed);
        assert!(
            outcome
                .physical_resource_id
                .starts_with("registrar:create-failed:")
        );
        let reason = outcome.reason.unwrap();
        assert!(
            reason.contains("with access keys")
                && reason.contains("registration keys")
                && reason.contains("Remove it."),
            "{reason}"
        );
        let connects = world.lock().unwrap().connects;
        let rollback = run(
            &world,
            &common,
            RequestType::Delete,
            Some(&outcome.physical_resource_id),
            "one",
        )
        .await;
        assert_eq!(rollback.status, Status::Success);
        let world = world.lock().unwrap();
        assert_eq!(world.connects, connects, "no vendor call for the marker");
        assert_eq!(world.stored, before, "nothing changed");
        assert_eq!(world.updates, 0);
    }
}
