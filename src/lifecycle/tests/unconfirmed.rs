//! Creates whose answer was lost: what they made is found, or cleaned up by the rollback
//! of their `create-unconfirmed` marker, and claims are released.

use super::*;

#[tokio::test]
async fn a_create_whose_answer_was_lost_finds_what_it_made() {
    let world = Shared::default();
    world.lock().unwrap().creating = Creating::LosingTheAnswer;
    let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(outcome.status, Status::Success, "{:?}", outcome.reason);
    assert_eq!(outcome.data["RegistrationId"], "reg-1");
    assert_eq!(world.lock().unwrap().stored.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unconfirmed_create_is_cleaned_up_by_its_rollback_and_only_it() {
    let world = Shared::default();
    world.lock().unwrap().creating = Creating::Late;
    let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(outcome.status, Status::Failed);
    assert_eq!(
        outcome.physical_resource_id,
        "registrar:create-unconfirmed:req-1"
    );
    assert!(
        outcome
            .reason
            .unwrap()
            .contains("may have been made anyway")
    );

    // The POST lands after all, next to a registration another request of this stack made.
    let landed = |id: &str, by: &str| Stored {
        id: id.into(),
        location: "elsewhere".into(),
        owner: Owner::ThisStack,
        settings_applied: 1,
        created_by: Some(by.into()),
        claimed_by: None,
        unusable: false,
    };
    world.lock().unwrap().stored.push(landed("late", "req-1"));
    let other = run(
        &world,
        &defaults(),
        RequestType::Delete,
        Some("registrar:create-unconfirmed:req-0"),
        "elsewhere",
    )
    .await;
    assert_eq!(other.status, Status::Success);
    assert_eq!(
        world.lock().unwrap().stored.len(),
        1,
        "another request's marker removes nothing"
    );
    let rollback = run(
        &world,
        &defaults(),
        RequestType::Delete,
        Some("registrar:create-unconfirmed:req-1"),
        "elsewhere",
    )
    .await;
    assert_eq!(rollback.status, Status::Success);
    assert!(world.lock().unwrap().stored.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_update_of_an_unconfirmed_marker_keeps_what_it_made() {
    let world = Shared::default();
    let marker = "registrar:create-unconfirmed:req-0";
    let made = run_as(
        "req-2",
        &world,
        &defaults(),
        RequestType::Update,
        Some(marker),
        "one",
    )
    .await;
    assert_eq!(made.status, Status::Success);
    let cleanup = run_as(
        "req-3",
        &world,
        &defaults(),
        RequestType::Delete,
        Some(marker),
        "one",
    )
    .await;
    assert_eq!(cleanup.status, Status::Success);
    assert_eq!(
        world.lock().unwrap().stored.len(),
        1,
        "made by req-2, not by the marker's req-0"
    );
}

#[tokio::test(start_paused = true)]
async fn the_claim_of_an_update_of_an_unconfirmed_marker_is_released_by_its_delete() {
    let world = Shared::default();
    let marker = "registrar:create-unconfirmed:req-0";
    let made = run_as(
        "req-2",
        &world,
        &defaults(),
        RequestType::Update,
        Some(marker),
        "one",
    )
    .await;
    assert_eq!(made.status, Status::Success);
    assert_eq!(
        world.lock().unwrap().stored[0].claimed_by.as_deref(),
        Some("req-0")
    );
    run_as(
        "req-3",
        &world,
        &defaults(),
        RequestType::Delete,
        Some(marker),
        "one",
    )
    .await;
    let world = world.lock().unwrap();
    assert_eq!(world.stored.len(), 1);
    assert_eq!(world.stored[0].claimed_by, None, "one mark left");
    assert_eq!(world.claims_released, 1);
}
