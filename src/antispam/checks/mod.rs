//! The checks, one per file. Each implements [`super::Check`].

pub mod bayes;
pub mod dkim;
pub mod dmarc;
pub mod spf;

/// The Bayes filter itself (tokeniser, token store, trainer), in
/// `src/antispam/bayes/`.
#[path = "../bayes/mod.rs"]
pub mod bayes_filter;
