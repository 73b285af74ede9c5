//! The checks, one per file. Each implements [`super::Check`].

pub mod dkim;
pub mod dmarc;
pub mod spf;
