//! sled allocates about 21 MiB of metric histograms when it opens, unless
//! built with its `miri_optimizations` feature (lazily zeroed memory). The
//! feature is undocumented, so this test measures that opening the store
//! stays cheap. It is alone in its file so that its process is its own.

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn opening_the_store_costs_little_resident_memory() {
    let dir = std::env::temp_dir().join(format!("facteur-rss-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let before = rss_kib();
    let store = facteur::store::Store::open(&dir, 4 << 20).unwrap();
    store.add_domain("example.test").unwrap();
    store.add_account("a@example.test", "h").unwrap();
    let after = rss_kib();
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
    let grown = after.saturating_sub(before);
    assert!(
        grown < 10 * 1024,
        "opening the store grew RSS by {grown} KiB (sled without miri_optimizations takes ~21 MiB)"
    );
}
