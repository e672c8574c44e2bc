//! The host's interfaces and addresses, from libpcap's device list.

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use crate::error::Error;

/// One capturable interface.
#[derive(Clone, Debug, Serialize)]
pub struct Interface {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
    /// A bridge port or bond member: its traffic is also seen on its master.
    pub enslaved: bool,
}

/// Every interface libpcap can capture on (including the pseudo-interface `any`).
pub fn list() -> Result<Vec<Interface>, Error> {
    let devices = pcap::Device::list().map_err(|e| Error::Capture {
        iface: "(device list)".into(),
        message: e.to_string(),
    })?;
    Ok(devices
        .into_iter()
        .map(|d| Interface {
            addresses: d.addresses.iter().map(|a| a.addr).collect(),
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            enslaved: Path::new("/sys/class/net")
                .join(&d.name)
                .join("master")
                .exists(),
            name: d.name,
        })
        .collect())
}

/// Every address of this host, for deciding a packet's direction.
pub fn local_addresses() -> Vec<IpAddr> {
    list()
        .map(|ifs| ifs.into_iter().flat_map(|i| i.addresses).collect())
        .unwrap_or_default()
}

/// The default capture set: every interface that is up and has an address, except
/// bridge ports and bond members, whose packets their master already shows (capturing
/// both would count a container's traffic twice).
pub fn default_selection(all: &[Interface]) -> Vec<String> {
    all.iter()
        .filter(|i| i.up && !i.addresses.is_empty() && !i.enslaved && i.name != "any")
        .map(|i| i.name.clone())
        .collect()
}
