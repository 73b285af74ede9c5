//! glibc's allocator, kept small: a cap on its arenas, giving freed memory
//! back to the system after a quiet period, and a read-out of its state.
//! The only unsafe code of the crate (calls into the C library); elsewhere
//! (musl, other systems) every function here does nothing.
#![allow(unsafe_code)]

/// Most malloc arenas. glibc gives each thread that allocates its own
/// arena (up to 8 per core) and keeps what was freed in it, so a server
/// whose threads took turns at a burst kept the peak of every one of
/// them. Measured: 90 s of 30 IMAP clients and SMTP deliveries ended at
/// 42 MiB with `MALLOC_ARENA_MAX=2` against 87 MiB uncapped, at the same
/// throughput. With 2 (and batched STORE), `scripts/bench/imap.sh 1000
/// 200 20 60` peaks at 39.2 MiB against 54.6 MiB uncapped
/// (docs/BENCHMARKS.md, "Memory across a day", with the runs of 1 and 4
/// arenas where they were made).
pub const ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`ARENAS`]. Call first thing in `main`,
/// before any thread exists: arenas made before the cap stay.
pub fn cap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Gives the free memory of every arena back to the system (whole free
/// pages, not only the top of each heap). It walks every arena under its
/// lock: call it after a quiet period, never on a hot path.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The allocator's report (glibc's `malloc_info`, XML), or `None` where it
/// has none.
pub fn info() -> Option<String> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut buf: *mut libc::c_char = std::ptr::null_mut();
        let mut len: libc::size_t = 0;
        // SAFETY: open_memstream gets valid places for its buffer and size,
        // which stay valid until the stream is closed; after fclose the
        // buffer holds `len` bytes, is ours and is freed once copied.
        unsafe {
            let stream = libc::open_memstream(&mut buf, &mut len);
            if stream.is_null() {
                return None;
            }
            let ok = libc::malloc_info(0, stream) == 0;
            libc::fclose(stream);
            if buf.is_null() {
                return None;
            }
            let text = std::slice::from_raw_parts(buf.cast::<u8>(), len).to_vec();
            libc::free(buf.cast());
            ok.then(|| String::from_utf8_lossy(&text).into_owned())
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// Arenas in use and bytes held by the allocator, from [`info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Arenas that exist (the main one included).
    pub arenas: usize,
    /// Bytes the allocator holds from the system (`<system type="current">`
    /// of the whole report).
    pub held: u64,
}

/// Reads [`Usage`] out of a `malloc_info` report: one `<heap nr=…>` per
/// arena, and the total's `<system type="current" size=…/>` after the
/// last heap.
pub fn usage(report: &str) -> Option<Usage> {
    let arenas = report.matches("<heap nr=").count();
    let total = &report[report.rfind("</heap>")?..];
    let held = total
        .split("<system type=\"current\" size=\"")
        .nth(1)?
        .split('"')
        .next()?
        .parse()
        .ok()?;
    Some(Usage { arenas, held })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_heaps_and_reads_the_total() {
        let report = r#"<malloc version="1">
<heap nr="0">
<sizes>
</sizes>
<total type="fast" count="0" size="0"/>
<system type="current" size="135168"/>
<system type="max" size="135168"/>
</heap>
<heap nr="1">
<system type="current" size="4096"/>
</heap>
<total type="fast" count="0" size="0"/>
<system type="current" size="139264"/>
<system type="max" size="139264"/>
</malloc>
"#;
        let u = usage(report).expect("usage");
        assert_eq!(
            u,
            Usage {
                arenas: 2,
                held: 139264
            }
        );
        assert_eq!(usage("<malloc/>"), None);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn this_process_reports_its_allocator() {
        let u = info().and_then(|r| usage(&r)).expect("a report");
        assert!(u.arenas >= 1 && u.held > 0, "{u:?}");
    }
}
