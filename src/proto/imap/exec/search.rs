//! SEARCH executor (in progress).
