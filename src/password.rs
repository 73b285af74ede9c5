//! Password hashing: argon2id in PHC string format.
//!
//! Parameters are sized for a Raspberry Pi: 8 MiB of memory and 3 passes
//! take about 50 ms on a desktop x86_64 core and a few hundred ms on a Pi,
//! while keeping each verification's memory small.
//!
//! The running server verifies logins and hashes new passwords through a
//! [`Verifier`]: a fixed number of worker threads, each reusing one argon2
//! working buffer, behind a bounded queue. Memory for passwords is then
//! `workers × MEMORY_KIB` however many clients log in or users are added,
//! and it is allocated once: allocating and freeing 8 MiB per login or per
//! `user add` on whichever thread ran it left glibc's heaps fragmented
//! (hundreds of MiB for a few hundred logins; 66 MiB after 10 user adds).
//!
//! [`check_strength`] is the one rule for new passwords, applied by the
//! admin service to every face that sets one.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Shortest password accepted, in characters (NIST SP 800-63B §3.1.1.2
/// asks for at least 8; 10 keeps a margin against guessing).
pub const MIN_LENGTH: usize = 10;

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 8 * 1024;
/// Passes over memory.
pub const PASSES: u32 = 3;

/// Largest memory cost a stored hash may ask for (KiB); hashes asking for
/// more never match rather than exhaust memory.
const MAX_MEMORY_KIB: usize = 256 * 1024;

/// Verifications that may wait for a worker; further logins wait (without
/// a thread) until the queue has room.
const QUEUE: usize = 64;

/// Most password workers a server starts, whatever its core count: each
/// keeps [`MEMORY_KIB`] of argon2 memory, so 4 cost 32 MiB at most, and a
/// Raspberry Pi has 4 cores.
pub const MAX_WORKERS: usize = 4;

/// Workers for a machine of `cores` cores: one each, at least one, at most
/// [`MAX_WORKERS`].
fn workers_for(cores: usize) -> usize {
    cores.clamp(1, MAX_WORKERS)
}

/// A hash of an unused password with our parameters, verified against for
/// unknown users so that they cost the same work as known ones.
const DUMMY_HASH: &str = "$argon2id$v=19$m=8192,t=3,p=1$D3T2pD7qwJc1DjZu1MLeEg$v2OoymNRHxy4GLTTn9psnfOXMbPBmKVlE7AOuCE7Htc";

/// Salt length in bytes (RFC 9106 §3.1 recommends 16).
const SALT_LEN: usize = 16;

/// Refuses a password that is too short, or that is the account's
/// address or its local part (compared case-insensitively): the first
/// guesses of anyone who knows the address.
pub fn check_strength(address: &str, password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!(
            "the password is too short: at least {MIN_LENGTH} characters"
        ));
    }
    let lower = password.to_lowercase();
    let address = address.trim().to_lowercase();
    let local = address
        .rsplit_once('@')
        .map_or(address.as_str(), |(l, _)| l);
    if lower == address || lower == local {
        return Err("the password must not be the address or its local part".into());
    }
    Ok(())
}

/// Whether a password given to set up an account is already an argon2
/// hash in PHC string format (`$argon2id$v=19$m=...`), to be stored as
/// it is rather than hashed again.
pub fn is_hash(given: &str) -> bool {
    given.starts_with("$argon2")
}

/// Checks an argon2id PHC string given for an account (a first-boot
/// profile): it must parse, carry a salt and an output, and ask for no
/// more memory than a login may use, so that it can match a password.
pub fn check_hash(given: &str) -> Result<(), String> {
    let bad = |why: &str| format!("not a usable argon2id hash ({why})");
    let parsed = PasswordHash::new(given).map_err(|e| bad(&e.to_string()))?;
    if parsed.algorithm.as_str() != Algorithm::Argon2id.ident().as_str() {
        return Err(bad(&format!(
            "the algorithm is {}, expected argon2id",
            parsed.algorithm
        )));
    }
    if let Some(Err(_)) = parsed.version.map(Version::try_from) {
        return Err(bad("unknown version"));
    }
    let params = Params::try_from(&parsed).map_err(|e| bad(&e.to_string()))?;
    if params.block_count() > MAX_MEMORY_KIB {
        return Err(bad(&format!(
            "it asks for {} KiB of memory, at most {MAX_MEMORY_KIB}",
            params.block_count()
        )));
    }
    match (&parsed.salt, &parsed.hash) {
        (Some(_), Some(_)) => Ok(()),
        _ => Err(bad("no salt or no hash")),
    }
}

/// Hashes a password with a fresh random salt. Allocates argon2's memory
/// for this one call: servers use a [`Verifier`].
pub fn hash(password: &str) -> Result<String, String> {
    hash_in(&mut Vec::new(), password)
}

/// Hashes a password with a fresh random salt into a PHC string, with our
/// parameters, using `memory` as argon2's working memory.
fn hash_in(memory: &mut Vec<Block>, password: &str) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot hash the password: {e}");
    let mut salt = [0u8; SALT_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| fail(&"no random numbers"))?;
    let params = Params::new(MEMORY_KIB, PASSES, 1, None).map_err(|e| fail(&e))?;
    grow(memory, params.block_count())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let algorithm = Algorithm::Argon2id;
    Argon2::new(algorithm, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory.as_mut_slice())
        .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Grows argon2's working memory to `blocks` (KiB), failing rather than
/// aborting when memory is short.
fn grow(memory: &mut Vec<Block>, blocks: usize) -> Result<(), String> {
    if memory.len() < blocks {
        if memory.try_reserve_exact(blocks - memory.len()).is_err() {
            return Err("no memory for a password check".into());
        }
        memory.resize(blocks, Block::default());
    }
    Ok(())
}

/// Checks a password against a stored hash. A malformed hash never matches.
/// Allocates argon2's memory for this one call: servers use a [`Verifier`].
pub fn verify(password: &str, stored: &str) -> bool {
    verify_in(&mut Vec::new(), password, stored)
}

/// Checks a password against a stored PHC string using `memory` as
/// argon2's working memory, growing it if the hash needs more. A malformed
/// hash never matches. The comparison is in constant time (`Output`'s
/// equality).
fn verify_in(memory: &mut Vec<Block>, password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_MEMORY_KIB {
        log::warn!("a stored password hash asks for {blocks} KiB of memory; refused");
        return false;
    }
    if let Err(e) = grow(memory, blocks) {
        log::error!("{e}");
        return false;
    }
    let mut buf = [0u8; Output::MAX_LENGTH];
    let Some(out) = buf.get_mut(..expected.len()) else {
        return false;
    };
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt.as_ref(),
        out,
        memory.as_mut_slice(),
    );
    computed.is_ok() && Output::new(out).is_ok_and(|o| &o == expected)
}

/// One job for a worker.
enum Job {
    /// Verify `password` against the account's stored hash; `None` for an
    /// unknown user.
    Verify {
        password: String,
        stored: Option<String>,
        reply: smol::channel::Sender<bool>,
    },
    /// Hash a new password.
    Hash {
        password: String,
        reply: smol::channel::Sender<Result<String, String>>,
    },
}

/// Password verification and hashing on a fixed set of worker threads,
/// each with its own reused argon2 memory, fed through a bounded queue.
pub struct Verifier {
    jobs: smol::channel::Sender<Job>,
}

impl Verifier {
    /// Starts `workers` threads (at least one). They end when the
    /// verifier is dropped.
    pub fn new(workers: usize) -> Verifier {
        let (jobs, queue) = smol::channel::bounded::<Job>(QUEUE);
        for n in 0..workers.max(1) {
            let queue = queue.clone();
            let started = std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || work(&queue));
            if let Err(e) = started {
                log::error!("cannot start a password worker: {e}");
            }
        }
        Verifier { jobs }
    }

    /// The number of workers servers start: one per core, up to
    /// [`MAX_WORKERS`], so that logins scale with the cores (a 4-core Pi
    /// verifies four at once; one worker was the limit of a login burst
    /// while the other cores idled, docs/BENCHMARKS.md). Each keeps
    /// `MEMORY_KIB` once it has run, so the cap bounds password memory at
    /// `MAX_WORKERS × 8 MiB`, reached only after a burst of concurrent
    /// logins.
    pub fn default_workers() -> usize {
        workers_for(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Checks `password` against `stored`, or spends the same work against
    /// a dummy hash when `stored` is `None` (an unknown user) and answers
    /// false. Waits, without holding a thread, while the queue is full.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (reply, answer) = smol::channel::bounded(1);
        let job = Job::Verify {
            password: password.to_string(),
            stored: stored.map(str::to_string),
            reply,
        };
        if self.jobs.send(job).await.is_err() {
            log::error!("no password worker is running");
            return false;
        }
        answer.recv().await.unwrap_or(false)
    }

    /// Hashes a new password (see [`hash`]) on a worker, so that its
    /// memory is the worker's reused buffer.
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let (reply, answer) = smol::channel::bounded(1);
        let job = Job::Hash {
            password: password.to_string(),
            reply,
        };
        let lost = || "no password worker is running".to_string();
        self.jobs.send(job).await.map_err(|_| lost())?;
        answer.recv().await.map_err(|_| lost())?
    }
}

/// A worker: verifies and hashes until the [`Verifier`] is dropped, with one buffer
/// allocated at the first job and reused after.
fn work(queue: &smol::channel::Receiver<Job>) {
    let mut memory: Vec<Block> = Vec::new();
    while let Ok(job) = queue.recv_blocking() {
        // The client may have gone away meanwhile: replies may find no one.
        match job {
            Job::Verify {
                password,
                stored,
                reply,
            } => {
                let ok = match &stored {
                    Some(stored) => verify_in(&mut memory, &password, stored),
                    None => {
                        let _ = verify_in(&mut memory, &password, DUMMY_HASH);
                        false
                    }
                };
                let _ = reply.try_send(ok);
            }
            Job::Hash { password, reply } => {
                let _ = reply.try_send(hash_in(&mut memory, &password));
            }
        }
    }
}

/// A random password of 20 characters from an unambiguous alphabet, for
/// accounts created without one.
pub fn generate() -> String {
    random_chars(
        b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
        20,
    )
}

/// `n` characters drawn uniformly from `alphabet` (ASCII, at most 256
/// characters) with ring's system random generator.
pub fn random_chars(alphabet: &[u8], n: usize) -> String {
    let rng = ring::rand::SystemRandom::new();
    let mut out = String::with_capacity(n);
    while out.len() < n && !alphabet.is_empty() {
        let mut b = [0u8; 32];
        if ring::rand::SecureRandom::fill(&rng, &mut b).is_err() {
            continue;
        }
        for x in b {
            // Rejection sampling keeps the choice uniform.
            if (x as usize) < 256 - 256 % alphabet.len() && out.len() < n {
                out.push(alphabet[x as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

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
    fn given_hashes_are_checked_before_they_are_stored() {
        let h = hash("correct horse").unwrap();
        assert!(is_hash(&h));
        assert!(!is_hash("correct horse"));
        assert_eq!(check_hash(&h), Ok(()));
        assert_eq!(check_hash(DUMMY_HASH), Ok(()));
        let argon2i = h.replacen("$argon2id$", "$argon2i$", 1);
        assert!(check_hash(&argon2i)
            .unwrap_err()
            .contains("expected argon2id"));
        let huge = h.replacen("m=8192", "m=1048576", 1);
        assert!(check_hash(&huge).unwrap_err().contains("KiB"));
        let no_output = h.rsplit_once('$').unwrap().0;
        assert!(check_hash(no_output).is_err());
        assert!(check_hash("$argon2id$garbage").is_err());
    }

    #[test]
    fn the_dummy_hash_costs_what_ours_cost() {
        let h = hash("x").unwrap();
        let prefix = |s: &str| s.rsplitn(3, '$').nth(2).unwrap_or_default().to_string();
        assert_eq!(prefix(DUMMY_HASH), prefix(&h));
        assert!(verify("facteur-no-such-user", DUMMY_HASH));
    }

    #[test]
    fn reused_memory_gives_the_same_answers() {
        let a = hash("first").unwrap();
        let b = hash("second").unwrap();
        let mut memory = Vec::new();
        assert!(verify_in(&mut memory, "first", &a));
        assert_eq!(memory.len(), MEMORY_KIB as usize);
        assert!(!verify_in(&mut memory, "first", &b));
        assert!(verify_in(&mut memory, "second", &b));
        assert!(!verify_in(&mut memory, "", &a));
        assert!(!verify_in(
            &mut memory,
            "first",
            "$argon2id$v=19$m=8192,t=3,p=1$"
        ));
        // A hash made with other parameters still verifies (the buffer grows).
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(MEMORY_KIB * 2, 1, 1, None).unwrap(),
        )
        .hash_password(b"other")
        .unwrap()
        .to_string();
        assert!(verify_in(&mut memory, "other", &other));
        assert!(verify_in(&mut memory, "first", &a));
    }

    #[test]
    fn the_verifier_answers_many_logins_with_few_workers() {
        let h = std::sync::Arc::new(hash("pw").unwrap());
        let v = std::sync::Arc::new(Verifier::new(2));
        smol::block_on(async {
            let checks: Vec<_> = (0..6)
                .map(|i| {
                    let (v, h) = (v.clone(), h.clone());
                    smol::spawn(async move {
                        match i % 3 {
                            0 => v.verify("pw", Some(&h)).await,
                            1 => !v.verify("wrong", Some(&h)).await,
                            _ => !v.verify("pw", None).await,
                        }
                    })
                })
                .collect();
            for check in checks {
                assert!(check.await);
            }
        });
    }

    #[test]
    fn workers_follow_the_cores_up_to_the_cap() {
        assert_eq!(workers_for(0), 1);
        assert_eq!(workers_for(1), 1);
        assert_eq!(workers_for(2), 2);
        assert_eq!(workers_for(4), 4);
        assert_eq!(workers_for(64), MAX_WORKERS);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(Verifier::default_workers(), cores.min(MAX_WORKERS));
    }

    #[test]
    fn the_verifier_hashes_in_its_reused_memory() {
        let v = Verifier::new(1);
        let h = smol::block_on(v.hash("a long passphrase")).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=8192,t=3,p=1$"), "{h}");
        assert!(verify("a long passphrase", &h));
        let again = smol::block_on(v.hash("a long passphrase")).unwrap();
        assert_ne!(h, again, "salted");
        assert!(smol::block_on(v.verify("a long passphrase", Some(&again))));
    }

    /// Issue 13 item 3: short passwords and the address as password.
    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        let ok = |p| check_strength("Alice@Example.test", p);
        assert!(ok("correct horse").is_ok());
        assert!(ok("ten chars!").is_ok());
        assert!(ok("9 chars!!").unwrap_err().contains("at least 10"));
        assert!(ok("").unwrap_err().contains("at least 10"));
        // Characters, not bytes.
        assert!(ok("éééééé").is_err());
        assert!(ok("éééééééééé").is_ok());
        for same in [
            "alice@example.test",
            "ALICE@EXAMPLE.TEST",
            "Alice@example.Test",
        ] {
            assert!(ok(same).unwrap_err().contains("address"), "{same}");
        }
        let local = check_strength("alexandrina@example.test", "AlexandrinA");
        assert!(local.unwrap_err().contains("local part"));
        assert!(check_strength("alexandrina@example.test", "alexandrina1").is_ok());
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, generate());
    }
}
