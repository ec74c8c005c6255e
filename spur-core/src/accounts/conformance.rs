//! One behaviour suite for every [`AccountStore`] (SQLite and PostgreSQL
//! run exactly these checks).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Account, AccountError, AccountStore, AuthSession, Role};

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000 + seconds).unwrap()
}

pub async fn run_all(store: &dyn AccountStore) {
    accounts_are_unique_by_email(store).await;
    disabling_revokes_sign_ins(store).await;
    sessions_expire_and_revoke(store).await;
    missing_accounts_are_not_found(store).await;
}

async fn accounts_are_unique_by_email(store: &dyn AccountStore) {
    let ana = Account::new("  Ana@Shop.example ", "Ana", Role::Agent, at(0));
    assert_eq!(ana.email, "ana@shop.example");
    store.create_account(&ana, "hash-1").await.unwrap();
    let twin = Account::new("ANA@shop.example", "Other Ana", Role::Admin, at(1));
    assert!(matches!(
        store.create_account(&twin, "hash-2").await,
        Err(AccountError::EmailTaken)
    ));
    let (found, hash) = store
        .credentials("ana@SHOP.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.clone(), hash.as_str()), (ana.clone(), "hash-1"));
    assert_eq!(store.account(ana.id).await.unwrap(), Some(ana.clone()));
    store.set_password(ana.id, "hash-3").await.unwrap();
    assert_eq!(
        store.credentials(&ana.email).await.unwrap().unwrap().1,
        "hash-3"
    );
    let boss = Account::new("boss@shop.example", "Boss", Role::Admin, at(2));
    store.create_account(&boss, "hash-4").await.unwrap();
    let all = store.accounts().await.unwrap();
    let emails: Vec<&str> = all.iter().map(|a| a.email.as_str()).collect();
    let (a, b) = (
        emails
            .iter()
            .position(|e| *e == "ana@shop.example")
            .unwrap(),
        emails
            .iter()
            .position(|e| *e == "boss@shop.example")
            .unwrap(),
    );
    assert!(a < b, "oldest first: {emails:?}");
    assert_eq!(all[b].role, Role::Admin);
}

async fn disabling_revokes_sign_ins(store: &dyn AccountStore) {
    let bo = Account::new("bo@shop.example", "Bo", Role::Agent, at(10));
    store.create_account(&bo, "h").await.unwrap();
    let session = AuthSession {
        id: Uuid::new_v4(),
        account_id: bo.id,
        created_at: at(11),
        expires_at: at(11) + Duration::hours(1),
        revoked_at: None,
    };
    store.create_session(&session).await.unwrap();
    let disabled = store.set_disabled(bo.id, true, at(12)).await.unwrap();
    assert!(disabled.disabled);
    let (after, account) = store.session(session.id).await.unwrap().unwrap();
    assert_eq!(after.revoked_at, Some(at(12)));
    assert!(account.disabled);
    assert!(!after.is_live(at(12)));
    // Enabling again does not bring old tokens back.
    store.set_disabled(bo.id, false, at(13)).await.unwrap();
    assert!(
        !store
            .session(session.id)
            .await
            .unwrap()
            .unwrap()
            .0
            .is_live(at(13))
    );
}

async fn sessions_expire_and_revoke(store: &dyn AccountStore) {
    let cy = Account::new("cy@shop.example", "Cy", Role::Agent, at(20));
    store.create_account(&cy, "h").await.unwrap();
    let session = AuthSession {
        id: Uuid::new_v4(),
        account_id: cy.id,
        created_at: at(20),
        expires_at: at(80),
        revoked_at: None,
    };
    store.create_session(&session).await.unwrap();
    let (stored, account) = store.session(session.id).await.unwrap().unwrap();
    assert_eq!((stored.clone(), account), (session.clone(), cy.clone()));
    assert!(stored.is_live(at(79)));
    assert!(!stored.is_live(at(80)));
    store.revoke_session(session.id, at(30)).await.unwrap();
    // Revoking twice keeps the first time.
    store.revoke_session(session.id, at(40)).await.unwrap();
    let revoked = store.session(session.id).await.unwrap().unwrap().0;
    assert_eq!(revoked.revoked_at, Some(at(30)));
    assert!(!revoked.is_live(at(31)));
    assert!(store.session(Uuid::new_v4()).await.unwrap().is_none());
}

async fn missing_accounts_are_not_found(store: &dyn AccountStore) {
    let ghost = Account::new("ghost@shop.example", "Ghost", Role::Agent, at(0));
    assert!(store.account(ghost.id).await.unwrap().is_none());
    assert!(
        store
            .credentials("ghost@shop.example")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.set_disabled(ghost.id, true, at(1)).await,
        Err(AccountError::NotFound)
    ));
    assert!(matches!(
        store.set_password(ghost.id, "h").await,
        Err(AccountError::NotFound)
    ));
}
