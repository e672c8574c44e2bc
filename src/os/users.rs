//! uid → user name, through NSS, remembered per uid.
//!
//! NSS (getpwuid_r) is what `id`, `ps` and `ls -l` ask: /etc/passwd, and also LDAP,
//! SSSD or systemd's DynamicUser= and synthesized users wherever nsswitch.conf says
//! so. Reading /etc/passwd alone showed those users as numbers.
//!
//! Names are decoded lossily: a byte that is not UTF-8 costs that name its byte (as
//! U+FFFD), never a user its name, never every user theirs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Uids remembered; beyond it the memo starts over (a host has far fewer users).
const MAX_REMEMBERED: usize = 65_536;

/// User names by uid: from NSS ([`Users::load`]), or from a fixed passwd text for
/// fixtures ([`Users::parse`]; [`Users::default`] knows none).
#[derive(Debug, Default)]
pub struct Users {
    source: Source,
    /// Every answer the source gave, unknown uids included, so each uid is asked once
    /// per run: an NSS lookup may go over the network (LDAP, SSSD) and take seconds.
    known: Mutex<HashMap<u32, Option<String>>>,
    /// How many times the source was asked.
    asked: AtomicUsize,
}

#[derive(Debug, Default)]
enum Source {
    /// The host's user database, through the C library's NSS.
    Nss,
    /// A fixed table (fixtures), parsed from passwd(5) text.
    Table(HashMap<u32, String>),
    /// No names at all: every user shows as a number.
    #[default]
    None,
}

impl Users {
    /// The host's user database, through NSS.
    pub fn load() -> Users {
        Users {
            source: Source::Nss,
            ..Users::default()
        }
    }

    /// A fixed table from passwd(5) bytes (`name:password:uid:...`), for fixtures. A
    /// line that is not UTF-8 still names its uid, lossily; a malformed line is skipped.
    pub fn parse(passwd: impl AsRef<[u8]>) -> Users {
        let names = passwd
            .as_ref()
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let mut fields = line.split(|&b| b == b':');
                let name = fields.next()?;
                let uid = std::str::from_utf8(fields.nth(1)?).ok()?.parse().ok()?;
                Some((uid, String::from_utf8_lossy(name).into_owned()))
            })
            .collect();
        Users {
            source: Source::Table(names),
            ..Users::default()
        }
    }

    /// The user's name, or the number when unknown.
    pub fn name(&self, uid: u32) -> String {
        // A poisoned lock only means another thread panicked mid-insert: the map is
        // still a valid memo.
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= MAX_REMEMBERED && !known.contains_key(&uid) {
            known.clear();
        }
        known
            .entry(uid)
            .or_insert_with(|| {
                self.asked.fetch_add(1, Ordering::Relaxed);
                self.source.lookup(uid)
            })
            .clone()
            .unwrap_or_else(|| uid.to_string())
    }

    /// How many times the source was asked.
    #[cfg(test)]
    fn lookups(&self) -> usize {
        self.asked.load(Ordering::Relaxed)
    }
}

/// The uid of user `name`, through NSS; `None` when there is no such user.
pub fn uid_of(name: &str) -> std::io::Result<Option<u32>> {
    nix::unistd::User::from_name(name)
        .map(|user| user.map(|u| u.uid.as_raw()))
        .map_err(std::io::Error::from)
}

impl Source {
    fn lookup(&self, uid: u32) -> Option<String> {
        match self {
            // getpwuid_r through nix, which grows the buffer on ERANGE, tells "no such
            // user" from an error, and decodes the name lossily. An error (NSS service
            // down) is remembered as unknown like a missing user: asking again for every
            // new process of that uid could stall each rescan for a network timeout.
            Source::Nss => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.name),
            Source::Table(names) => names.get(&uid).cloned(),
            Source::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_passwd_and_unknown_uids_stay_numbers() {
        let users = Users::parse("root:x:0:0:root:/root:/bin/bash\nbad line\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n");
        assert_eq!(users.name(0), "root");
        assert_eq!(users.name(33), "www-data");
        assert_eq!(users.name(1234), "1234");
    }

    #[test]
    fn a_latin1_byte_costs_its_name_that_byte_and_no_one_else_their_name() {
        // One ISO-8859-1 line (ö is 0xf6) among UTF-8 ones, as left by an old useradd.
        let passwd = b"root:x:0:0:root:/root:/bin/bash\n\
                       j\xf6rg:x:1001:1001:J\xf6rg M\xfcller:/home/j\xf6rg:/bin/sh\n\
                       m\xc3\xa4x:x:1002:1002::/home/max:/bin/sh\n";
        let users = Users::parse(passwd);
        assert_eq!(users.name(0), "root");
        assert_eq!(users.name(1001), "j\u{fffd}rg");
        assert_eq!(users.name(1002), "mäx");
    }

    #[test]
    fn nss_names_root() {
        assert_eq!(Users::load().name(0), "root");
    }

    #[test]
    fn each_uid_is_looked_up_once_unknown_ones_too() {
        let users = Users::load();
        // No NSS module names this uid (the kernel's overflow uid is 65534; this is not
        // a valid id at all).
        let unknown = u32::MAX - 1;
        for _ in 0..3 {
            assert_eq!(users.name(0), "root");
            assert_eq!(users.name(unknown), unknown.to_string());
        }
        assert_eq!(users.lookups(), 2);
    }

    #[test]
    fn no_source_names_no_one() {
        assert_eq!(Users::default().name(0), "0");
    }
}
