//! Facts about this host that the report names.

/// The host's name, as the kernel has it for netflow's UTS namespace; empty when it
/// cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}
