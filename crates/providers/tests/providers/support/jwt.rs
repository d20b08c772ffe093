//! JWT crafting for the tests, written directly on aws-lc-rs (independent of the
//! `jsonwebtoken` crate the code under test verifies with).

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_json(value: &Value) -> String {
    b64(&serde_json::to_vec(value).expect("JSON"))
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// An RSA signing key with its `kid`.
#[derive(Debug)]
pub struct SigningKey {
    pair: RsaKeyPair,
    pub kid: &'static str,
}

/// The provider's current key (`kid` "key-1").
pub static KEY_1: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::generate("key-1"));
/// The provider's next key (`kid` "key-2"), published only after a rotation.
pub static KEY_2: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::generate("key-2"));
/// An attacker's key, never published.
pub static ROGUE: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::generate("key-1"));

impl SigningKey {
    pub fn generate(kid: &'static str) -> Self {
        SigningKey {
            pair: RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
            kid,
        }
    }

    /// The public JWK, as a JWKS publishes it.
    pub fn jwk(&self) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64(&public.n),
            "e": b64(&public.e),
        })
    }

    /// RS256 with the usual header (`alg`, `typ`, `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid }),
            claims,
        )
    }

    /// RS256 over whatever header is given.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64_json(header), b64_json(claims));
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{input}.{}", b64(&signature))
    }
}

pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// HS256 with `secret` as the HMAC key.
pub fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// `header.payload.signature` with a made-up (or empty) signature.
pub fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", b64_json(header), b64_json(claims))
}

/// The token's payload replaced by `claims`, the header and signature kept.
pub fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS");
    format!("{}.{}.{}", parts[0], b64_json(claims), parts[2])
}
