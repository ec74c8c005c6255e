//! Customers the shop vouches for. The shop's backend signs the customer's
//! id with the secret it shares with Spur (`IDENTITY_SECRET`):
//! `customerHash = hex(HMAC-SHA256(secret, customerId))`, the scheme of
//! the large chat widgets' "identity verification". A message carrying a
//! valid pair acts as that customer (tools that act for a customer are
//! offered); a pair that does not verify is refused, never downgraded.
//! Every refusal is 401: whatever is wrong (no secret here, a bad id, a
//! wrong hash), the credential is not accepted.

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::error::ApiError;

/// Longest customer id accepted.
const MAX_ID_CHARS: usize = 200;

fn refused(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_identity", message)
}

/// The verified customer id of a message, if it carries one.
pub fn verified(
    secret: Option<&SecretString>,
    id: Option<&str>,
    hash: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let (id, hash) = match (id, hash) {
        (None, None) => return Ok(None),
        (None, Some(_)) => return Err(refused("customerHash without customerId")),
        (Some(id), hash) => (id, hash),
    };
    let Some(secret) = secret else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "identity_not_configured",
            "this server verifies no customer identities (IDENTITY_SECRET is not set)",
        ));
    };
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Err(refused(
            "customerId is 1 to 200 characters, none of them control characters",
        ));
    }
    let hash = hash.ok_or_else(|| refused("customerId needs its customerHash"))?;
    let hash = hex::decode(hash).map_err(|_| refused("customerHash is not hex"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| refused("the identity could not be checked"))?;
    mac.update(id.as_bytes());
    // Constant time: a forger learns nothing from how long the check took.
    mac.verify_slice(&hash)
        .map_err(|_| refused("customerHash does not match customerId"))?;
    Ok(Some(id.to_string()))
}

/// What the shop's backend computes (tests and the docs' example).
pub fn hash(secret: &str, id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "an-identity-secret-of-32-characters!";

    fn secret() -> SecretString {
        SECRET.to_string().into()
    }

    #[test]
    fn a_valid_pair_verifies_and_anything_else_is_refused() {
        let s = secret();
        let good = hash(SECRET, "cus_7");
        assert_eq!(
            verified(Some(&s), Some("cus_7"), Some(&good)).unwrap(),
            Some("cus_7".into())
        );
        assert_eq!(
            verified(Some(&s), Some("cus_7"), Some(&good.to_uppercase())).unwrap(),
            Some("cus_7".into())
        );
        assert_eq!(verified(Some(&s), None, None).unwrap(), None);
        let other = hash(SECRET, "cus_8");
        let other_key = hash("another-secret-another-secret-xx", "cus_7");
        for (id, hash, status) in [
            (Some("cus_7"), None, 401),
            (Some("cus_7"), Some(other.as_str()), 401),
            (Some("cus_7"), Some(other_key.as_str()), 401),
            (Some("cus_7"), Some("zz"), 401),
            (Some("cus_7"), Some(&good[..62]), 401),
            (None, Some(good.as_str()), 401),
            (Some(""), Some(good.as_str()), 401),
            (Some("cus\n7"), Some(good.as_str()), 401),
        ] {
            let error = verified(Some(&s), id, hash).unwrap_err();
            assert_eq!(error.status().as_u16(), status, "{id:?} {hash:?}");
        }
        let unconfigured = verified(None, Some("cus_7"), Some(&good)).unwrap_err();
        assert_eq!(unconfigured.status().as_u16(), 401);
    }
}
