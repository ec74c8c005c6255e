//! Signed bearer tokens (JWT, HS256). A token names its sign-in (`sid`), so
//! that logout and disabling an account revoke it before it expires.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: Uuid,
    /// The sign-in (`auth_sessions.id`).
    pub sid: Uuid,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked by `Auth` against its (injected) clock, exactly:
        // the stored sign-in expires at the same instant.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A random key: tokens last as long as the process.
    pub fn random() -> Self {
        let secret: Vec<u8> = (0..4).flat_map(|_| Uuid::new_v4().into_bytes()).collect();
        Self::new(&secret)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// The claims of a well-formed, correctly signed token unexpired at `now`.
    pub fn verify(
        &self,
        token: &str,
        now: time::OffsetDateTime,
    ) -> Result<Claims, jsonwebtoken::errors::Error> {
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        if claims.exp <= now.unix_timestamp() {
            return Err(jsonwebtoken::errors::ErrorKind::ExpiredSignature.into());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_from_now: i64) -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            role: "agent".into(),
            iat: now,
            exp: now + exp_from_now,
        }
    }

    #[test]
    fn only_our_unexpired_tokens_verify() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let good = claims(60);
        let token = keys.sign(&good).unwrap();
        assert_eq!(
            keys.verify(&token, time::OffsetDateTime::now_utc())
                .unwrap()
                .sid,
            good.sid
        );
        assert!(
            keys.verify(
                &keys.sign(&claims(-5)).unwrap(),
                time::OffsetDateTime::now_utc()
            )
            .is_err(),
            "expired"
        );
        let other = TokenKeys::new(b"another secret, also 32 bytes lo");
        assert!(
            other
                .verify(&token, time::OffsetDateTime::now_utc())
                .is_err(),
            "signed with another key"
        );
        let mut tampered = token.clone();
        tampered.insert(token.len() / 2, 'x');
        assert!(
            keys.verify(&tampered, time::OffsetDateTime::now_utc())
                .is_err()
        );
        assert!(
            keys.verify("not.a.token", time::OffsetDateTime::now_utc())
                .is_err()
        );
    }
}
