//! Customers the shop vouches for. The shop's backend signs the customer's
//! id with the secret it shares with Spur (`IDENTITY_SECRET`):
//! `customerHash = hex(HMAC-SHA256(secret, customerId))`, the scheme of
//! the large chat widgets' "identity verification". A message carrying a
//! valid pair acts as that customer (tools that act for a customer are
//! offered); a pair that does not verify is refused, never downgraded.
//! Every refusal is 401: whatever is wrong (no secret here, a bad id, a
//! wrong hash), the credential is not accepted.
//!
//! Instead of the pair, a shop may send `customerToken`: a JWT (HS256,
//! under the same secret) whose `sub` is the customer's id and whose `exp`
//! is required and checked on the server's clock. A short expiry is how
//! such a token is revoked.

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::error::ApiError;

/// Longest customer id accepted.
const MAX_ID_CHARS: usize = 200;
/// Longest customer token read.
const MAX_TOKEN_BYTES: usize = 4096;

fn refused(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_identity", message)
}

/// What a message may carry to say who the customer is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    pub id: Option<&'a str>,
    pub hash: Option<&'a str>,
    pub token: Option<&'a str>,
}

/// The verified customer id of a message, if it carries one; `now` is
/// the server's clock (a token's expiry).
pub fn verified(
    secret: Option<&SecretString>,
    credentials: Credentials<'_>,
    now: time::OffsetDateTime,
) -> Result<Option<String>, ApiError> {
    let Credentials { id, hash, token } = credentials;
    if id.is_none() && hash.is_none() && token.is_none() {
        return Ok(None);
    }
    let Some(secret) = secret else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "identity_not_configured",
            "this server verifies no customer identities (IDENTITY_SECRET is not set)",
        ));
    };
    let (id, hash) = match (id, hash, token) {
        (None, None, Some(token)) => return from_token(secret, token, now).map(Some),
        (_, _, Some(_)) => {
            return Err(refused(
                "send customerToken, or customerId with customerHash, not both",
            ));
        }
        (None, Some(_), None) => return Err(refused("customerHash without customerId")),
        (Some(id), hash, None) => (id, hash),
        (None, None, None) => return Ok(None),
    };
    checked_id(id)?;
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

fn checked_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Err(refused(
            "the customer id is 1 to 200 characters, none of them control characters",
        ));
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct TokenClaims {
    sub: String,
    exp: i64,
}

/// The customer of a shop-signed JWT: HS256 only (the algorithm is not the
/// token's to choose), `sub` and `exp` required, unexpired at `now`.
fn from_token(
    secret: &SecretString,
    token: &str,
    now: time::OffsetDateTime,
) -> Result<String, ApiError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(refused("customerToken is too long"));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry on the server's (injected) clock, below.
    validation.validate_exp = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
    let claims = jsonwebtoken::decode::<TokenClaims>(token, &key, &validation)
        .map_err(|_| refused("customerToken does not verify"))?
        .claims;
    if claims.exp <= now.unix_timestamp() {
        return Err(refused("customerToken has expired"));
    }
    checked_id(&claims.sub)?;
    Ok(claims.sub)
}

/// What the shop's backend computes (tests and the docs' example).
pub fn hash(secret: &str, id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A customer token as the shop's backend signs it (tests and the docs'
/// example): `sub` the id, `exp` in Unix seconds.
pub fn token(secret: &str, id: &str, exp: i64) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": id, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "an-identity-secret-of-32-characters!";

    fn secret() -> SecretString {
        SECRET.to_string().into()
    }

    fn pair<'a>(id: Option<&'a str>, hash: Option<&'a str>) -> Credentials<'a> {
        Credentials {
            id,
            hash,
            token: None,
        }
    }

    fn verified(
        secret: Option<&SecretString>,
        id: Option<&str>,
        hash: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        super::verified(secret, pair(id, hash), time::OffsetDateTime::now_utc())
    }

    fn token(key: &str, claims: serde_json::Value, algorithm: Algorithm) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(algorithm),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires_and_anything_else_is_refused() {
        let s = secret();
        let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let at = |t: &str| {
            super::verified(
                Some(&s),
                Credentials {
                    token: Some(t),
                    ..Credentials::default()
                },
                now,
            )
        };
        let exp = now.unix_timestamp() + 300;
        let good = token(
            SECRET,
            serde_json::json!({"sub": "cus_7", "exp": exp}),
            Algorithm::HS256,
        );
        assert_eq!(at(&good).unwrap(), Some("cus_7".into()));
        for (why, bad) in [
            (
                "expired",
                token(
                    SECRET,
                    serde_json::json!({"sub": "cus_7", "exp": now.unix_timestamp()}),
                    Algorithm::HS256,
                ),
            ),
            (
                "forged",
                token(
                    "another-secret-another-secret-xx",
                    serde_json::json!({"sub": "cus_7", "exp": exp}),
                    Algorithm::HS256,
                ),
            ),
            (
                "no expiry",
                token(
                    SECRET,
                    serde_json::json!({"sub": "cus_7"}),
                    Algorithm::HS256,
                ),
            ),
            (
                "no subject",
                token(SECRET, serde_json::json!({"exp": exp}), Algorithm::HS256),
            ),
            (
                "another algorithm",
                token(
                    SECRET,
                    serde_json::json!({"sub": "cus_7", "exp": exp}),
                    Algorithm::HS512,
                ),
            ),
            (
                "a control character",
                token(
                    SECRET,
                    serde_json::json!({"sub": "cus\n7", "exp": exp}),
                    Algorithm::HS256,
                ),
            ),
            ("not a token", "not.a.token".to_string()),
            ("too long", format!("{good}{}", "x".repeat(4096))),
        ] {
            let error = at(&bad).unwrap_err();
            assert_eq!(error.status().as_u16(), 401, "{why}");
        }
        // Both ways at once is refused, not one of them picked.
        let both = super::verified(
            Some(&s),
            Credentials {
                id: Some("cus_7"),
                hash: Some(&hash(SECRET, "cus_7")),
                token: Some(&good),
            },
            now,
        );
        assert_eq!(both.unwrap_err().status().as_u16(), 401);
        let unconfigured = super::verified(
            None,
            Credentials {
                token: Some(&good),
                ..Credentials::default()
            },
            now,
        );
        assert_eq!(unconfigured.unwrap_err().status().as_u16(), 401);
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
