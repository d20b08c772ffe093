//! Verifying a signed JWT (compact JWS) with the keys of a JWK set: the rules shared by an
//! upstream's ID tokens and the client assertions of `private_key_jwt` (RFC 7523). Asymmetric
//! algorithms only: never `none`, never HS*.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
pub use jsonwebtoken::{Algorithm, Validation};
use jsonwebtoken::{AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

use crate::error::sanitize;

/// A verification key from a JWKS.
pub struct VerifyKey {
    kid: Option<String>,
    alg: Option<String>,
    family: AlgorithmFamily,
    crv: Option<String>,
    key: DecodingKey,
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// One JWKS entry; `None` for keys we cannot or must not use (encryption keys, symmetric
    /// keys, unknown types).
    pub fn from_jwk(jwk: &Value) -> Option<Self> {
        let text = |key: &str| jwk.get(key).and_then(Value::as_str);
        if text("use").is_some_and(|u| u != "sig") {
            return None;
        }
        let crv = text("crv").map(str::to_owned);
        let (family, key) = match text("kty")? {
            "RSA" => (
                AlgorithmFamily::Rsa,
                DecodingKey::from_rsa_components(text("n")?, text("e")?).ok()?,
            ),
            "EC" => (
                AlgorithmFamily::Ec,
                DecodingKey::from_ec_components(text("x")?, text("y")?).ok()?,
            ),
            "OKP" if crv.as_deref() == Some("Ed25519") => (
                AlgorithmFamily::Ed,
                DecodingKey::from_ed_components(text("x")?).ok()?,
            ),
            _ => return None,
        };
        Some(VerifyKey {
            kid: text("kid").map(str::to_owned),
            alg: text("alg").map(str::to_owned),
            family,
            crv,
            key,
        })
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn fits(&self, header: &Header) -> bool {
        if header.kid.is_some() && self.kid != header.kid {
            return false;
        }
        if self.family != header.alg.family()
            || self.alg.as_deref().is_some_and(|a| a != header.alg_name)
        {
            return false;
        }
        match header.alg {
            Algorithm::ES256 => self.crv.as_deref() == Some("P-256"),
            Algorithm::ES384 => self.crv.as_deref() == Some("P-384"),
            _ => true,
        }
    }
}

/// The usable keys of a JWKS document (`{"keys": [...]}`); `None` when it has no keys array.
pub fn key_set(jwks: &Value) -> Option<Vec<VerifyKey>> {
    let keys = jwks.get("keys")?.as_array()?;
    Some(keys.iter().filter_map(VerifyKey::from_jwk).collect())
}

/// The asymmetric algorithm of this JWA name; `None` for unknown and symmetric ones.
pub fn asymmetric(name: &str) -> Option<Algorithm> {
    Algorithm::from_str(name)
        .ok()
        .filter(|alg| alg.family() != AlgorithmFamily::Hmac)
}

/// What a JWS header says about its signature.
#[derive(Debug, Clone)]
pub struct Header {
    pub alg: Algorithm,
    alg_name: String,
    pub kid: Option<String>,
}

/// Why a JWS was not accepted.
#[derive(Debug)]
pub enum JwsError {
    /// No base64url JSON header.
    Malformed,
    /// Not three parts: not a compact JWS.
    NotSigned,
    /// No `alg`.
    NoAlg,
    /// `alg` is `none`.
    AlgNone,
    /// An algorithm jsonwebtoken does not know (sanitized name).
    UnsupportedAlgorithm(String),
    /// HS256 and the like.
    Symmetric,
    /// No key of the set fits the algorithm (and `kid`, when the header names one).
    NoKey { kid: bool },
    /// The signature or a claim the validation checks.
    Invalid(jsonwebtoken::errors::Error),
}

/// The header of a compact JWS, refusing unsigned and symmetric ones.
pub fn header(jwt: &str) -> Result<Header, JwsError> {
    let parsed = jwt
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or(JwsError::Malformed)?;
    if jwt.split('.').count() != 3 {
        return Err(JwsError::NotSigned);
    }
    let alg_name = parsed
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwsError::NoAlg)?;
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(JwsError::AlgNone);
    }
    let alg = Algorithm::from_str(alg_name)
        .map_err(|_| JwsError::UnsupportedAlgorithm(sanitize(alg_name, 20)))?;
    if alg.family() == AlgorithmFamily::Hmac {
        return Err(JwsError::Symmetric);
    }
    Ok(Header {
        alg,
        alg_name: alg_name.to_owned(),
        kid: parsed.get("kid").and_then(Value::as_str).map(str::to_owned),
    })
}

/// The claims of `jwt`, once a key of `keys` that fits its header verified the signature and
/// `validation` (built for `header.alg`) its claims.
pub fn verify(
    jwt: &str,
    header: &Header,
    keys: &[VerifyKey],
    validation: &Validation,
) -> Result<Map<String, Value>, JwsError> {
    let mut failure = None;
    let mut fitting = false;
    for key in keys.iter().filter(|k| k.fits(header)) {
        fitting = true;
        match jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.key, validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => failure = Some(e),
        }
    }
    Err(match failure {
        Some(e) => JwsError::Invalid(e),
        None if !fitting => JwsError::NoKey {
            kid: header.kid.is_some(),
        },
        None => JwsError::Malformed,
    })
}
