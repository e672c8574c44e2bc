//! glibc malloc settings for a long capture: what is freed goes back to the kernel.
//!
//! glibc raises its mmap threshold to the size of the largest mapped block freed so far
//! (up to 32 MiB), and keeps twice that free in each arena before returning any. The
//! socket log's start-up frees a 5 MB buffer of kernel BTF (and a 9 MB table), after
//! which every arena kept megabytes it no longer used: 17.6 MiB of anonymous RSS for
//! 10 MB live. A fixed threshold keeps large blocks mapped (unmapped when freed), and
//! two arenas bound what the threads' arenas hold; no thread allocates per packet, so
//! they do not contend.

/// Blocks from this size up are mapped on their own, whatever was freed before. Not
/// lower: at 128 KiB (glibc's start value) each arena's top was returned and faulted
/// back for every 80 KB packet batch, +30 % CPU per packet end to end.
const MMAP_THRESHOLD: i32 = 1024 * 1024;
/// Arenas shared by all threads (glibc's default is 8 per core).
const ARENA_MAX: i32 = 2;

/// Applies the settings; call before threads start. No-op on other C libraries.
pub fn tune_for_long_runs() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(
        unsafe_code,
        reason = "mallopt is glibc's documented tuning call; it takes plain integers"
    )]
    // SAFETY: mallopt takes two ints and changes glibc's allocator parameters; it is
    // called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}
