//! Session tests against a real store.
