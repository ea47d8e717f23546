//! OpenPGP checks of a suite's `InRelease` (a cleartext-signed Release) or `Release` +
//! `Release.gpg` (a detached signature), with rPGP: pure Rust, so rtlock needs neither
//! gpgv nor a system crypto library, and it handles the RSA-4096 and ed25519 keys of
//! Debian's archive keyring.
//!
//! As gpgv does for apt, a signature is accepted when it verifies against the primary key
//! or a subkey of any key in the keyrings the caller passes; which keyrings those are
//! (the source's `Signed-By`, else the image's trusted ones) is decided by the caller.

use pgp::composed::{
    Deserializable, SignedPublicKey, StandaloneSignature, cleartext::CleartextSignedMessage,
};
use pgp::packet::Signature;

/// The public keys of one keyring file (binary `.gpg` or ASCII-armoured `.asc`).
#[derive(Debug, Clone)]
pub struct Keyring {
    /// Where it came from (`/usr/share/keyrings/debian-archive-keyring.gpg`, or
    /// `inline key of /etc/apt/sources.list.d/x.sources:1`), for errors.
    pub name: String,
    pub keys: Vec<SignedPublicKey>,
}

/// Why a keyring or a signature could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("{0}")]
    Malformed(String),
    /// Well-formed, but made by none of the keys given.
    #[error("no signature matches a key of the keyrings")]
    NoMatchingKey,
}

/// Reads the keys of a keyring file. Binary and armoured forms are told apart by their
/// first byte, as gpg does.
pub fn read_keyring(name: &str, bytes: &[u8]) -> Result<Keyring, SignatureError> {
    let bad = |e: pgp::errors::Error| {
        SignatureError::Malformed(format!("{name} is not an OpenPGP keyring: {e}"))
    };
    let keys: Box<dyn Iterator<Item = pgp::errors::Result<SignedPublicKey>>> = if is_armored(bytes)
    {
        SignedPublicKey::from_armor_many(bytes).map_err(bad)?.0
    } else {
        SignedPublicKey::from_bytes_many(bytes)
    };
    let mut out = Vec::new();
    for key in keys {
        // One key the parser does not understand (an old algorithm) must not hide the
        // others: gpgv skips it too.
        match key {
            Ok(key) => out.push(key),
            Err(e) => tracing::debug!("{name}: skipping a key: {e}"),
        }
    }
    if out.is_empty() {
        return Err(SignatureError::Malformed(format!(
            "{name} holds no OpenPGP public key"
        )));
    }
    Ok(Keyring {
        name: name.to_string(),
        keys: out,
    })
}

/// Verifies a cleartext-signed `InRelease` and returns the signed text (LF line
/// endings). Parse the Release from this text only: anything outside the signed block
/// is not covered by the signature.
pub fn verify_cleartext(text: &str, keyrings: &[Keyring]) -> Result<String, SignatureError> {
    let (message, _) = CleartextSignedMessage::from_string(text).map_err(|e| {
        SignatureError::Malformed(format!("not an OpenPGP cleartext-signed message: {e}"))
    })?;
    let signed = message.signed_text();
    let signatures: Vec<Signature> = message
        .signatures()
        .iter()
        .map(|s| s.signature.clone())
        .collect();
    if !any_verifies(&signatures, signed.as_bytes(), keyrings) {
        return Err(SignatureError::NoMatchingKey);
    }
    Ok(signed.replace("\r\n", "\n"))
}

/// The signed text of a cleartext-signed message, without checking the signature: for
/// sources the user marked `trusted=yes`.
pub fn cleartext_body(text: &str) -> Result<String, SignatureError> {
    let (message, _) = CleartextSignedMessage::from_string(text).map_err(|e| {
        SignatureError::Malformed(format!("not an OpenPGP cleartext-signed message: {e}"))
    })?;
    Ok(message.signed_text().replace("\r\n", "\n"))
}

/// Verifies a detached signature (`Release.gpg`, armoured or binary) over `data`.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    keyrings: &[Keyring],
) -> Result<(), SignatureError> {
    let malformed =
        |e: pgp::errors::Error| SignatureError::Malformed(format!("not an OpenPGP signature: {e}"));
    let signatures: Box<dyn Iterator<Item = pgp::errors::Result<StandaloneSignature>>> =
        if is_armored(signature) {
            StandaloneSignature::from_armor_many(signature)
                .map_err(malformed)?
                .0
        } else {
            StandaloneSignature::from_bytes_many(signature)
        };
    let signatures = signatures
        .map(|s| s.map(|s| s.signature))
        .collect::<Result<Vec<_>, _>>()
        .map_err(malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no signature in it".into()));
    }
    if any_verifies(&signatures, data, keyrings) {
        Ok(())
    } else {
        Err(SignatureError::NoMatchingKey)
    }
}

/// ASCII armour starts with a `-----BEGIN PGP` line (possibly after blank lines); binary
/// OpenPGP data starts with a packet tag byte, which always has its high bit set.
fn is_armored(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'-')
}

fn any_verifies(signatures: &[Signature], data: &[u8], keyrings: &[Keyring]) -> bool {
    signatures.iter().any(|signature| {
        keyrings.iter().flat_map(|k| &k.keys).any(|key| {
            signature.verify(&key.primary_key, data).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|sub| signature.verify(&sub.key, data).is_ok())
        })
    })
}
