//! Cookie values: `s1.<base64 envelope>.<tag>` (signed) or
//! `e1.<base64 nonce+ciphertext>` (encrypted, the cookie name as associated data).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

use crate::record::envelope;
use crate::token::{Key, MAX_TOKEN_LEN, TokenError, TokenSigner, Verified};
use crate::{SessionRecord, StoreError};

const SIGNED: &str = "s1.";
const ENCRYPTED: &str = "e1.";
const NONCE_LEN: usize = 24;

fn cipher(key: &Key) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&key.derive("cookie-store encryption").into())
}

pub(super) fn seal(
    signer: &TokenSigner,
    record: &SessionRecord,
    encrypt: bool,
) -> Result<String, StoreError> {
    let plain = envelope::encode(record)?;
    if !encrypt {
        let payload = format!("{SIGNED}{}", URL_SAFE_NO_PAD.encode(&plain));
        return Ok(signer.sign_payload(&payload));
    }
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher(signer.keys().primary())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: signer.context().as_bytes(),
            },
        )
        .map_err(|_| StoreError::Corrupt("cookie encryption failed".into()))?;
    let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    Ok(format!("{ENCRYPTED}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Opens a cookie in the store's own format only: an encrypted store never
/// takes a signed (readable) cookie, nor a signed store an encrypted one.
pub(super) fn open(
    signer: &TokenSigner,
    token: &str,
    encrypted: bool,
) -> Result<Verified<SessionRecord>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let format = if encrypted { ENCRYPTED } else { SIGNED };
    if !token.is_empty() && !token.starts_with(format) {
        return Err(TokenError::Malformed);
    }
    let (plain, key_index) = if token.starts_with(SIGNED) {
        let verified = signer.verify_payload(token)?;
        let body = verified
            .value
            .strip_prefix(SIGNED)
            .ok_or(TokenError::Malformed)?;
        let plain = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        (plain, verified.key_index)
    } else if let Some(body) = token.strip_prefix(ENCRYPTED) {
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() <= NONCE_LEN {
            return Err(TokenError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        signer
            .keys()
            .all()
            .iter()
            .enumerate()
            .find_map(|(index, key)| {
                cipher(key)
                    .decrypt(
                        XNonce::from_slice(nonce),
                        Payload {
                            msg: sealed,
                            aad: signer.context().as_bytes(),
                        },
                    )
                    .ok()
                    .map(|plain| (plain, index))
            })
            .ok_or(TokenError::BadSignature)?
    } else if token.is_empty() {
        return Err(TokenError::Empty);
    } else {
        return Err(TokenError::Malformed);
    };
    // Authentic but undecodable (another format version, say): not a
    // forgery, so told apart from one; the service keeps the cookie.
    let record = envelope::decode(&plain).map_err(|error| TokenError::Undecodable {
        session: envelope::session_id(&plain),
        reason: match error {
            StoreError::Corrupt(reason) => reason,
            other => other.to_string(),
        },
    })?;
    Ok(Verified {
        value: record,
        key_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::SigningKeys;
    use crate::{Binding, SessionId, Timestamp};

    fn signer(keys: &[u8], context: &str) -> TokenSigner {
        TokenSigner::new(
            SigningKeys::new(keys.iter().map(|&n| Key::new([n; 32]).unwrap())).unwrap(),
            context,
        )
    }

    fn record() -> SessionRecord {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let mut r = SessionRecord::new(
            SessionId::generate(),
            now,
            now.plus(std::time::Duration::from_secs(60)),
        );
        r.fields.insert("count", "3");
        r.flash.insert("error", "\"Invalid email/password\"");
        r.binding = Some(Box::new(
            Binding::user("ada").with_meta(serde_json::json!({"a": [1]})),
        ));
        r
    }

    #[test]
    fn both_forms_round_trip() {
        let s = signer(&[1], "sid");
        for encrypt in [false, true] {
            let r = record();
            let token = seal(&s, &r, encrypt).unwrap();
            let opened = open(&s, &token, encrypt).unwrap();
            assert_eq!(opened.value, r);
            assert_eq!(opened.key_index, 0);
        }
    }

    #[test]
    fn each_store_opens_only_its_own_format() {
        let s = signer(&[1], "sid");
        // A readable cookie must not pass where cookies are meant to be
        // opaque, nor the other way round.
        let signed = seal(&s, &record(), false).unwrap();
        assert!(matches!(
            open(&s, &signed, true),
            Err(TokenError::Malformed)
        ));
        let encrypted = seal(&s, &record(), true).unwrap();
        assert!(matches!(
            open(&s, &encrypted, false),
            Err(TokenError::Malformed)
        ));
    }

    #[test]
    fn encrypted_cookies_hide_the_data() {
        let token = seal(&signer(&[1], "sid"), &record(), true).unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(&token[3..]).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("Invalid email"));
        let signed = seal(&signer(&[1], "sid"), &record(), false).unwrap();
        let body = signed.split('.').nth(1).unwrap();
        assert!(
            String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap())
                .unwrap()
                .contains("Invalid email")
        );
    }

    #[test]
    fn tampering_other_keys_and_other_cookie_names_are_refused() {
        let s = signer(&[1], "sid");
        for encrypt in [false, true] {
            let token = seal(&s, &record(), encrypt).unwrap();
            for i in [3, token.len() / 2, token.len() - 2] {
                let mut bytes = token.clone().into_bytes();
                bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
                assert!(
                    open(&s, &String::from_utf8(bytes).unwrap(), encrypt).is_err(),
                    "tampered at {i}"
                );
            }
            assert!(open(&s, &token[..token.len() - 5], encrypt).is_err());
            assert!(open(&signer(&[2], "sid"), &token, encrypt).is_err());
            assert!(open(&signer(&[1], "other"), &token, encrypt).is_err());
        }
        for garbage in ["", "e1.", "e1.%%%", "s1.abc", "x", "e1.AAAA"] {
            for encrypt in [false, true] {
                assert!(open(&s, garbage, encrypt).is_err(), "{garbage:?}");
            }
        }
    }

    #[test]
    fn an_authentic_cookie_that_does_not_decode_is_told_apart_from_a_forgery() {
        let s = signer(&[1], "sid");
        let r = record();
        let plain = String::from_utf8(envelope::encode(&r).unwrap())
            .unwrap()
            .replacen("\"v\":1", "\"v\":2", 1);
        let payload = format!("{SIGNED}{}", URL_SAFE_NO_PAD.encode(&plain));
        let token = s.sign_payload(&payload);
        match open(&s, &token, false) {
            Err(TokenError::Undecodable { session, reason }) => {
                assert_eq!(session, Some(r.id));
                assert!(reason.contains("version 2"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // The same bytes under a tag that does not verify are a forgery.
        assert!(matches!(
            open(&signer(&[2], "sid"), &token, false),
            Err(TokenError::BadSignature)
        ));
    }

    #[test]
    fn older_keys_open_and_report_their_index() {
        let old = signer(&[2], "sid");
        let rotated = signer(&[1, 2], "sid");
        for encrypt in [false, true] {
            let token = seal(&old, &record(), encrypt).unwrap();
            assert_eq!(open(&rotated, &token, encrypt).unwrap().key_index, 1);
        }
    }
}
