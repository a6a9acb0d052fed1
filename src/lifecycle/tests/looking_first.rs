//! The rules for a vendor that does not refuse a second registration (Create looks first):
//! the same outcomes, never two registrations of one account.

use super::*;

fn world() -> Shared {
    let world = Shared::default();
    world.lock().unwrap().looks_first = true;
    world
}

#[tokio::test]
async fn create_looks_then_registers_once_and_a_repeat_reuses() {
    let world = world();
    let first = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(first.status, Status::Success);
    assert_eq!(
        first.physical_resource_id,
        "registrar:datadog:one:aws:123456789012:reg-1"
    );
    let second = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(second.physical_resource_id, first.physical_resource_id);
    let w = world.lock().unwrap();
    assert_eq!(w.stored.len(), 1, "no second registration");
    assert_eq!((w.finds, w.creates), (2, 1), "it looks before it registers");
}

#[tokio::test]
async fn someone_elses_is_a_conflict_and_adopt_takes_it() {
    let world = world();
    let theirs = someone_elses(&world, "one");
    let failed = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(failed.status, Status::Failed);
    assert!(
        failed
            .physical_resource_id
            .starts_with("registrar:create-failed:")
    );
    let rollback = run(
        &world,
        &defaults(),
        RequestType::Delete,
        Some(&failed.physical_resource_id),
        "one",
    )
    .await;
    assert_eq!(rollback.status, Status::Success);
    assert_eq!(world.lock().unwrap().stored, vec![theirs.clone()]);
    assert_eq!(world.lock().unwrap().creates, 0, "never registered over it");

    let adopt = common(OnConflict::Adopt, OnDeleteError::Fail);
    let adopted = run(&world, &adopt, RequestType::Create, None, "one").await;
    assert_eq!(adopted.status, Status::Success);
    assert!(adopted.physical_resource_id.ends_with(":theirs"));
    assert_eq!(world.lock().unwrap().stored[0].owner, Owner::ThisStack);
}

#[tokio::test]
async fn a_lost_answer_is_settled_by_looking_never_by_registering_again() {
    let world = world();
    world.lock().unwrap().creating = Creating::LosingTheAnswer;
    let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(outcome.status, Status::Success, "{:?}", outcome.reason);
    let w = world.lock().unwrap();
    assert_eq!((w.stored.len(), w.creates), (1, 1));
}

#[tokio::test]
async fn a_lost_answer_that_made_nothing_is_unconfirmed_not_retried() {
    let world = world();
    world.lock().unwrap().creating = Creating::Late;
    let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
    assert_eq!(outcome.status, Status::Failed);
    assert!(
        outcome
            .physical_resource_id
            .starts_with("registrar:create-unconfirmed:")
    );
    assert_eq!(
        world.lock().unwrap().creates,
        1,
        "a lost answer is never sent again blindly"
    );
}

#[tokio::test]
async fn update_recreates_what_vanished_and_delete_tolerates_gone() {
    let world = world();
    let created = run(&world, &defaults(), RequestType::Create, None, "one").await;
    world.lock().unwrap().stored.clear();
    let updated = run(
        &world,
        &defaults(),
        RequestType::Update,
        Some(&created.physical_resource_id),
        "one",
    )
    .await;
    assert_eq!(updated.status, Status::Success);
    assert_eq!(world.lock().unwrap().stored.len(), 1);
    for _ in 0..2 {
        let deleted = run(
            &world,
            &defaults(),
            RequestType::Delete,
            Some(&updated.physical_resource_id),
            "one",
        )
        .await;
        assert_eq!(deleted.status, Status::Success);
    }
    assert!(world.lock().unwrap().stored.is_empty());
}
