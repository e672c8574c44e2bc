//! Checks, before capturing, that this process may open packet sockets.

use crate::error::Error;

/// CAP_NET_RAW: open AF_PACKET sockets.
const CAP_NET_RAW: u32 = 13;

/// Fails early, with a hint, when the process can neither capture as root nor holds
/// CAP_NET_RAW. Reads the effective capability set from /proc/self/status.
pub fn check_capture() -> Result<(), Error> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if has_effective_cap(&status, CAP_NET_RAW) {
        Ok(())
    } else {
        Err(Error::Privileges {
            missing: "CAP_NET_RAW".into(),
        })
    }
}

/// Parses the `CapEff:` line (hex bit mask) of a /proc/PID/status text.
pub fn has_effective_cap(status: &str, cap: u32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1u64 << cap) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_capability_mask_has_net_raw() {
        let status = "Name:\tx\nCapEff:\t000001ffffffffff\n";
        assert!(has_effective_cap(status, CAP_NET_RAW));
    }

    #[test]
    fn unprivileged_mask_lacks_net_raw() {
        let status = "Name:\tx\nCapEff:\t0000000000000000\n";
        assert!(!has_effective_cap(status, CAP_NET_RAW));
        assert!(!has_effective_cap("garbage", CAP_NET_RAW));
    }
}
