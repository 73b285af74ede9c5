//! DKIM (RFC 6376) signatures, with RSA-SHA256 and Ed25519-SHA256
//! (RFC 8463).
//!
//! - [`canon`]: canonicalisation of header fields and (streamed) bodies,
//!   for the signer and the verifier;
//! - [`key`]: signing keys, their files under `<data_dir>/dkim/` and their
//!   DNS records;
//! - [`sign`]: the streaming [`Signer`];
//! - [`verify`]: the streaming [`verify::Verifier`], for received mail.
//!
//! Signing a message from `alice@example.com`:
//!
//! ```no_run
//! # use facteur::auth::dkim::{key, Signer};
//! # fn f(data_dir: &std::path::Path, chunks: &[&[u8]]) -> Result<(), Box<dyn std::error::Error>> {
//! let keys = key::load_active(data_dir, "example.com")?;
//! let mut signer = Signer::new(&keys, facteur::time::unix_now());
//! for chunk in chunks {
//!     signer.update(chunk);
//! }
//! let fields = signer.finish()?; // "DKIM-Signature: ...\r\n", one per key
//! # Ok(()) }
//! ```
//!
//! Verification ([`verify`]) reuses [`canon`] and [`sign::signed_data`].

pub mod canon;
pub mod key;
pub mod sign;
pub mod verify;

pub use key::{Algorithm, KeyError, SigningKey};
pub use sign::{SignError, Signer};
