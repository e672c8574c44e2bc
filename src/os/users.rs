//! uid → user name, from /etc/passwd (read once).

use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct Users {
    names: HashMap<u32, String>,
}

impl Users {
    /// Reads /etc/passwd; an unreadable file leaves every user shown by number.
    pub fn load() -> Users {
        Users::parse(&std::fs::read_to_string("/etc/passwd").unwrap_or_default())
    }

    /// Parses passwd(5) lines: `name:password:uid:...`.
    pub fn parse(passwd: &str) -> Users {
        let names = passwd
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let uid = fields.nth(1)?.parse().ok()?;
                Some((uid, name.to_string()))
            })
            .collect();
        Users { names }
    }

    /// The user's name, or the number when unknown.
    pub fn name(&self, uid: u32) -> String {
        self.names
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
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
}
