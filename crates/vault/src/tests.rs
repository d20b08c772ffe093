use proptest::prelude::*;

use super::*;

const DOMAIN: Domain = Domain("secrets");

fn keyring() -> Keyring {
    Keyring::new(Kek::generate().expect("random"), vec![])
}

fn row_aad(user: &str, relation: &str) -> AssociatedData {
    AssociatedData::new("test.v1")
        .field("user", user)
        .field("relation", relation)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
                  id in "[a-zA-Z0-9]{1,21}", user in "[a-z0-9]{1,21}") {
        let ring = keyring();
        let aad = row_aad(&user, "social:github:1");
        let env = ring.seal(DOMAIN, &id, &aad, &plaintext).expect("seal");
        prop_assert_eq!(env.kek_id.clone(), ring.active().id().clone());
        let opened = ring.open(DOMAIN, &id, &aad, &env).expect("open");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn any_flipped_byte_fails(plaintext in proptest::collection::vec(any::<u8>(), 1..256),
                              field in 0usize..2, index in any::<prop::sample::Index>(),
                              bit in 0u8..8) {
        let ring = keyring();
        let aad = row_aad("u1", "social:github:1");
        let mut env = ring.seal(DOMAIN, "s1", &aad, &plaintext).expect("seal");
        let target = if field == 0 { &mut env.encrypted_dek } else { &mut env.ciphertext };
        let i = index.index(target.len());
        target[i] ^= 1 << bit;
        prop_assert_eq!(ring.open(DOMAIN, "s1", &aad, &env), Err(VaultError::Unauthentic));
    }

    #[test]
    fn any_changed_binding_fails(plaintext in proptest::collection::vec(any::<u8>(), 1..64),
                                 which in 0usize..4) {
        let ring = keyring();
        let aad = row_aad("u1", "social:github:1");
        let env = ring.seal(DOMAIN, "s1", &aad, &plaintext).expect("seal");
        let (domain, id, other) = match which {
            0 => (DOMAIN, "s2", aad.clone()),
            1 => (DOMAIN, "s1", row_aad("u2", "social:github:1")),
            2 => (DOMAIN, "s1", row_aad("u1", "social:github:2")),
            _ => (Domain("connectors"), "s1", aad.clone()),
        };
        prop_assert!(ring.open(domain, id, &other, &env).is_err());
    }
}

#[test]
fn ciphertext_or_wrapped_key_moved_to_another_row_fails() {
    let ring = keyring();
    let aad_a = row_aad("alice", "social:github:1");
    let aad_b = row_aad("bob", "social:github:2");
    let a = ring
        .seal(DOMAIN, "a", &aad_a, b"alice-token")
        .expect("seal");
    let b = ring.seal(DOMAIN, "b", &aad_b, b"bob-token").expect("seal");

    // The whole envelope of row a copied into row b.
    assert!(ring.open(DOMAIN, "b", &aad_b, &a).is_err());
    // Only a's ciphertext, with b's own wrapped key.
    let mixed = Envelope {
        ciphertext: a.ciphertext.clone(),
        ..b.clone()
    };
    assert!(ring.open(DOMAIN, "b", &aad_b, &mixed).is_err());
    // Only a's wrapped key, with b's ciphertext.
    let mixed = Envelope {
        encrypted_dek: a.encrypted_dek.clone(),
        ..b.clone()
    };
    assert!(ring.open(DOMAIN, "b", &aad_b, &mixed).is_err());
    // The untouched rows still open.
    assert_eq!(
        ring.open(DOMAIN, "b", &aad_b, &b).expect("open").as_slice(),
        b"bob-token"
    );
}

#[test]
fn kek_id_is_bound_to_the_wrapped_key() {
    let old = Kek::generate().expect("random");
    let old_b64 = old.to_base64();
    let new = Kek::generate().expect("random");
    let ring = Keyring::new(new, vec![Kek::from_base64(&old_b64).expect("kek")]);
    let aad = row_aad("u", "r");
    let mut env = ring.seal(DOMAIN, "s", &aad, b"x").expect("seal");
    // Relabelling the record with another known KEK id must not open it.
    env.kek_id = Kek::from_base64(&old_b64).expect("kek").id().clone();
    assert_eq!(
        ring.open(DOMAIN, "s", &aad, &env),
        Err(VaultError::Unauthentic)
    );
}

#[test]
fn previous_keks_open_and_rewrap_moves_to_active() {
    let old = Kek::generate().expect("random");
    let old_b64 = old.to_base64();
    let old_id = old.id().clone();
    let old_ring = Keyring::new(old, vec![]);
    let aad = row_aad("u", "r");
    let env = old_ring.seal(DOMAIN, "s", &aad, b"token").expect("seal");

    let rotated = Keyring::new(
        Kek::generate().expect("random"),
        vec![Kek::from_base64(&old_b64).expect("kek")],
    );
    assert_eq!(
        rotated
            .open(DOMAIN, "s", &aad, &env)
            .expect("open")
            .as_slice(),
        b"token"
    );

    let (new_id, new_dek) = rotated
        .rewrap(DOMAIN, "s", &env.kek_id, &env.encrypted_dek)
        .expect("rewrap")
        .expect("needs rewrap");
    assert_ne!(new_id, old_id);
    assert_eq!(&new_id, rotated.active().id());
    let moved = Envelope {
        kek_id: new_id,
        encrypted_dek: new_dek,
        ..env.clone()
    };
    assert_eq!(
        rotated
            .open(DOMAIN, "s", &aad, &moved)
            .expect("open")
            .as_slice(),
        b"token"
    );
    // Already active: nothing to do.
    assert_eq!(
        rotated.rewrap(DOMAIN, "s", &moved.kek_id, &moved.encrypted_dek),
        Ok(None)
    );

    // Without the old key, the old record names the KEK it needs.
    let without_old = Keyring::new(Kek::generate().expect("random"), vec![]);
    assert_eq!(
        without_old.open(DOMAIN, "s", &aad, &env),
        Err(VaultError::UnknownKek(old_id))
    );
}

#[test]
fn kek_parsing() {
    let kek = Kek::from_base64("DtPWS09unRXGuRScB60qXqCSsrjd22dUlXt/0oZgxSo=").expect("valid");
    assert_eq!(kek.id().as_str().len(), 16);
    // Same key, URL-safe alphabet, same id.
    let url_safe = Kek::from_base64("DtPWS09unRXGuRScB60qXqCSsrjd22dUlXt_0oZgxSo=").expect("valid");
    assert_eq!(kek.id(), url_safe.id());
    assert_eq!(
        Kek::from_base64("not base64!!").map(|_| ()),
        Err(KekError::NotBase64)
    );
    assert_eq!(
        Kek::from_base64("c2hvcnQ=").map(|_| ()),
        Err(KekError::WrongLength(5))
    );
    assert_eq!(format!("{kek:?}"), format!("Kek({}, [redacted])", kek.id()));
}

#[test]
fn key_check_values() {
    let ring = keyring();
    let check = ring.key_check_value().expect("check");
    ring.verify_key_check(&check).expect("own check verifies");
    assert!(keyring().verify_key_check(&check).is_err());
    let mut tampered = check.clone();
    tampered.ciphertext[14] ^= 1;
    assert!(ring.verify_key_check(&tampered).is_err());
}

#[test]
fn macs_are_per_purpose_and_survive_a_kek_rotation() {
    let old = Kek::generate().expect("kek");
    let old_b64 = old.to_base64();
    let ring = Keyring::new(old, vec![]);
    let tag = ring.mac("browser", b"value");
    assert!(ring.verify_mac("browser", b"value", &tag));
    assert!(!ring.verify_mac("browser", b"other", &tag));
    assert!(!ring.verify_mac("session", b"value", &tag));
    let mut flipped = tag;
    flipped[0] ^= 1;
    assert!(!ring.verify_mac("browser", b"value", &flipped));
    // After a rotation the old KEK still verifies (as a previous one), and new tags differ.
    let rotated = Keyring::new(
        Kek::generate().expect("kek"),
        vec![Kek::from_base64(&old_b64).expect("old kek")],
    );
    assert!(rotated.verify_mac("browser", b"value", &tag));
    assert_ne!(rotated.mac("browser", b"value"), tag);
    // Another KEK altogether does not.
    let other = Keyring::new(Kek::generate().expect("kek"), vec![]);
    assert!(!other.verify_mac("browser", b"value", &tag));
}
