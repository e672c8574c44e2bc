//! Checks, before capturing, that this process may open packet sockets.

use crate::error::Error;

/// CAP_NET_RAW: open AF_PACKET sockets.
const CAP_NET_RAW: u32 = 13;
/// CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE: read other users' `/proc/PID/fd`.
const FD_CAPS: [(u32, &str); 2] = [(2, "CAP_DAC_READ_SEARCH"), (19, "CAP_SYS_PTRACE")];

/// Fails early, with a hint, when the process can neither capture as root nor holds
/// CAP_NET_RAW. Reads the effective capability set from /proc/self/status.
pub fn check_capture() -> Result<(), Error> {
    if has_effective_cap(&own_status(), CAP_NET_RAW) {
        Ok(())
    } else {
        Err(Error::Privileges {
            missing: "CAP_NET_RAW".into(),
        })
    }
}

/// Without root, the capabilities netflow lacks to see which process holds a socket
/// of another user; a warning for the report, or `None` when nothing is missing.
pub fn fd_access_warning() -> Option<String> {
    let status = own_status();
    let missing: Vec<&str> = FD_CAPS
        .iter()
        .filter(|(cap, _)| !has_effective_cap(&status, *cap))
        .map(|&(_, name)| name)
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "netflow runs without {}: other users' processes cannot be matched to their sockets, and their traffic shows as no_process (see the README on capabilities)",
            missing.join(" and ")
        )
    })
}

/// /proc/self/status, decoded lossily: its `Name:` line is the binary's file name (or
/// what prctl set), which need not be UTF-8, and a strict read would lose every line
/// to it (netflow renamed `net\xffflow` refused to run, as root, with exit 3).
fn own_status() -> String {
    std::fs::read("/proc/self/status")
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .unwrap_or_default()
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
    fn capability_numbers_match_their_names() {
        // linux/capability.h
        assert_eq!(
            FD_CAPS,
            [(2, "CAP_DAC_READ_SEARCH"), (19, "CAP_SYS_PTRACE")]
        );
        let only_net_raw = format!("CapEff:\t{:016x}\n", 1u64 << CAP_NET_RAW);
        assert!(has_effective_cap(&only_net_raw, CAP_NET_RAW));
        assert!(!has_effective_cap(&only_net_raw, FD_CAPS[1].0));
    }

    #[test]
    fn a_name_that_is_not_utf8_does_not_hide_the_capabilities() {
        let status = String::from_utf8_lossy(b"Name:\tnet\xffflow\nCapEff:\t000001ffffffffff\n");
        assert!(has_effective_cap(&status, CAP_NET_RAW));
    }

    #[test]
    fn unprivileged_mask_lacks_net_raw() {
        let status = "Name:\tx\nCapEff:\t0000000000000000\n";
        assert!(!has_effective_cap(status, CAP_NET_RAW));
        assert!(!has_effective_cap("garbage", CAP_NET_RAW));
    }
}
