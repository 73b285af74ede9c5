//! Password hashing: argon2id in PHC string format.
//!
//! Parameters are sized for a Raspberry Pi: 8 MiB of memory and 3 passes
//! take about 50 ms on a desktop x86_64 core and a few hundred ms on a Pi,
//! while keeping each verification's memory small. Callers bound how many
//! verifications run at once (each holds `MEMORY_KIB` while it runs).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 8 * 1024;
/// Passes over memory.
pub const PASSES: u32 = 3;

fn hasher() -> Argon2<'static> {
    // These constants are valid argon2 parameters (checked by a test).
    let params = Params::new(MEMORY_KIB, PASSES, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checks a password against a stored hash. A malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(stored) else {
        return false;
    };
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Spends the same work as a real verification, for unknown users, so that
/// timing does not reveal whether an account exists.
pub fn verify_unknown_user(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("facteur-no-such-user").unwrap_or_default());
    let _ = verify(password, stored);
}

/// A random password of 20 characters from an unambiguous alphabet, for
/// accounts created without one.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let rng = ring::rand::SystemRandom::new();
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let mut b = [0u8; 32];
        if ring::rand::SecureRandom::fill(&rng, &mut b).is_err() {
            continue;
        }
        for x in b {
            // Rejection sampling keeps the choice uniform.
            if (x as usize) < 256 - 256 % ALPHABET.len() && out.len() < 20 {
                out.push(ALPHABET[x as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_our_parameters_and_verify() {
        assert!(Params::new(MEMORY_KIB, PASSES, 1, None).is_ok());
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=8192,t=3,p=1$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(h, hash("correct horse").unwrap(), "salted");
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, generate());
    }
}
