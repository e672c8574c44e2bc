//! The production /proc reader run on a fixture tree (tests/fixtures/proc/handmade,
//! described in its README): no root needed, every holder and socket known.
#![allow(
    clippy::disallowed_methods,
    reason = "this test builds a /proc tree in a temporary directory"
)]

use std::path::Path;

use netflow::attrib::{Lookup, SocketTable};
use netflow::model::{FlowKey, MatchQuality, Proto, Timestamp, Unattributed};
use netflow::os::procfs::ProcScanner;
use netflow::os::users::Users;

/// Host facts for parsing fixtures, fixed so tests do not depend on this machine.
fn system_info() -> &'static procfs::ExplicitSystemInfo {
    Box::leak(Box::new(procfs::ExplicitSystemInfo {
        boot_time_secs: 1_700_000_000,
        ticks_per_second: 100,
        page_size: 4096,
        is_little_endian: true,
    }))
}

/// A fresh copy of the fixture tree in a temporary directory named after `name`.
fn fixture_copy(name: &str) -> std::path::PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/handmade");
    let root = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    copy_tree(&fixture, &root);
    root
}

fn fixture_table() -> SocketTable {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/handmade");
    let info = system_info();
    let users = Users::parse("root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n");
    let mut scanner = ProcScanner::with_root(root, users, info);
    let scan = scanner.scan(
        Timestamp(0),
        vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
        false,
    );
    let mut pids: Vec<u32> = scan.processes.iter().map(|p| p.key.pid).collect();
    pids.sort_unstable();
    assert_eq!(
        pids,
        [100, 101, 200, 300, 400],
        "only processes holding sockets"
    );
    assert_eq!(scan.unreadable_processes, 0);
    assert_eq!(scan.sockets.len(), 8);
    SocketTable::build(1, scan)
}

fn lookup(table: &SocketTable, proto: Proto, local: &str, remote: &str) -> Lookup {
    table.lookup(&FlowKey::new(
        proto,
        local.parse().unwrap(),
        remote.parse().unwrap(),
    ))
}

fn owner(l: Lookup) -> (u32, MatchQuality, String, String, String) {
    match l {
        Lookup::Owned(p, q) => (
            p.key.pid,
            q,
            p.name.clone(),
            p.user.clone(),
            p.cmdline.clone(),
        ),
        other => panic!("expected an owner, got {other:?}"),
    }
}

#[test]
fn v4_mapped_tcp6_row_is_found_with_process_details() {
    let t = fixture_table();
    let (pid, q, name, user, cmdline) =
        owner(lookup(&t, Proto::Tcp, "10.0.0.1:40000", "198.51.100.7:443"));
    assert_eq!((pid, q), (200, MatchQuality::Exact));
    assert_eq!(name, "curl");
    assert_eq!(user, "alice");
    assert_eq!(cmdline, "curl -sO https://example.test/big file");
}

#[test]
fn native_ipv6_connection_is_found() {
    let t = fixture_table();
    let (pid, ..) = owner(lookup(&t, Proto::Tcp, "[fd00::1]:40001", "[fd00::9]:443"));
    assert_eq!(pid, 200);
}

#[test]
fn socket_shared_by_master_and_forked_worker_goes_to_the_master() {
    let t = fixture_table();
    let (pid, q, _, user, _) = owner(lookup(&t, Proto::Tcp, "10.0.0.1:80", "10.0.0.9:51000"));
    assert_eq!((pid, q), (100, MatchQuality::SharedParent));
    assert_eq!(user, "www-data");
}

#[test]
fn wildcard_udp_sockets_match_v4_and_v6_by_port() {
    let t = fixture_table();
    let (pid, q, ..) = owner(lookup(&t, Proto::Udp, "10.0.0.1:53", "10.0.0.77:40000"));
    assert_eq!((pid, q), (300, MatchQuality::BoundUdp));
    let (pid, ..) = owner(lookup(&t, Proto::Udp, "[fd00::1]:5353", "[fd00::2]:5353"));
    assert_eq!(pid, 300);
}

#[test]
fn connected_udp_socket_matches_exactly() {
    let t = fixture_table();
    let (pid, q, ..) = owner(lookup(&t, Proto::Udp, "127.0.0.1:45000", "127.0.0.53:53"));
    assert_eq!((pid, q), (400, MatchQuality::Exact));
}

#[test]
fn time_wait_row_without_inode_has_no_process() {
    let t = fixture_table();
    assert_eq!(
        lookup(&t, Proto::Tcp, "10.0.0.1:80", "10.0.0.8:51001"),
        Lookup::Unowned(Unattributed::NoProcess)
    );
}

#[test]
fn unknown_connection_to_a_listening_port_is_no_socket() {
    let t = fixture_table();
    assert_eq!(
        lookup(&t, Proto::Tcp, "10.0.0.1:80", "10.0.0.7:1"),
        Lookup::Unowned(Unattributed::NoSocket)
    );
}

#[test]
fn local_addresses_come_from_the_scan() {
    let t = fixture_table();
    assert!(t.local.contains("10.0.0.1".parse().unwrap()));
    assert!(!t.local.contains("10.0.0.9".parse().unwrap()));
}

#[test]
fn running_means_same_start_time_and_not_a_zombie() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/handmade");
    let key = netflow::model::ProcessKey::from_ticks;
    assert!(netflow::os::procfs::is_running(&root, key(100, 5000)));
    assert!(
        !netflow::os::procfs::is_running(&root, key(100, 4999)),
        "pid reused"
    );
    assert!(
        !netflow::os::procfs::is_running(&root, key(600, 6000)),
        "zombie"
    );
    assert!(!netflow::os::procfs::is_running(&root, key(999, 1)), "gone");
}

#[test]
fn a_process_whose_main_thread_exited_is_read_through_a_live_thread() {
    let root = fixture_copy("netflow-proc-main-exited");
    // 800: the main thread has exited (a zombie leader with an empty fd directory);
    // thread 801 works on, and the fd table is listed under it.
    let dir = root.join("800");
    for sub in ["fd", "task/800/fd", "task/801/fd"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let stat = std::fs::read_to_string(root.join("600/stat")).unwrap();
    let stat = stat.replacen(
        "600 (defunct-worker) Z 100 600 600",
        "800 (server) Z 1 800 800",
        1,
    );
    std::fs::write(dir.join("stat"), stat.replacen(" 6000 ", " 8000 ", 1)).unwrap();
    std::fs::write(dir.join("cmdline"), "").unwrap();
    std::fs::copy(root.join("400/status"), dir.join("status")).unwrap();
    std::fs::write(dir.join("task/801/cmdline"), "server\0--threads\0").unwrap();
    std::os::unix::fs::symlink("socket:[6006]", dir.join("task/801/fd/3")).unwrap();
    let tcp = root.join("net/tcp");
    let mut table = std::fs::read_to_string(&tcp).unwrap();
    table.push_str("   3: 0100000A:1F90 090000FD:C350 01 00000000:00000000 00:00000000 00000000     0        0 6006 1 0000000000000000 100 0 0 10 0\n");
    std::fs::write(&tcp, table).unwrap();

    let mut scanner = ProcScanner::with_root(&root, Users::default(), system_info());
    let addrs = vec!["10.0.0.1".parse().unwrap()];
    for n in 0..2 {
        // The second scan remembers the thread it read.
        let scan = scanner.scan(Timestamp(n), addrs.clone(), false);
        assert!(scan.fds.contains(&(800, 6006)), "scan {n}: {:?}", scan.fds);
        let info = scan.processes.iter().find(|p| p.key.pid == 800).unwrap();
        assert_eq!(info.cmdline, "server --threads", "from the live thread");
    }
    let key = netflow::model::ProcessKey::from_ticks(800, 8000);
    assert!(
        netflow::os::procfs::is_running(&root, key),
        "it still works"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Copies a fixture tree (symlinks as symlinks) so a test can change it.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn targeted_scan_also_reads_processes_that_started_since_the_last_scan() {
    let root = fixture_copy("netflow-proc-new-pid");
    let info = system_info();
    let mut scanner = ProcScanner::with_root(&root, Users::default(), info);
    let addrs = vec!["10.0.0.1".parse().unwrap()];
    scanner.scan(Timestamp(0), addrs.clone(), false);

    // A new process, 700, holds a new connection; sleep (500, not a holder) gets a
    // socket fd that is in no table: it shows whether 500 was read (a full walk).
    copy_tree(&root.join("400"), &root.join("700"));
    let stat = std::fs::read_to_string(root.join("400/stat")).unwrap();
    std::fs::write(
        root.join("700/stat"),
        stat.replacen("400 (resolver)", "700 (late)", 1),
    )
    .unwrap();
    std::fs::remove_file(root.join("700/fd/2")).unwrap();
    std::os::unix::fs::symlink("socket:[6005]", root.join("700/fd/2")).unwrap();
    let tcp = root.join("net/tcp");
    let mut table = std::fs::read_to_string(&tcp).unwrap();
    table.push_str("   3: 0100000A:9C44 090000FD:01BB 01 00000000:00000000 00:00000000 00000000     0        0 6005 1 0000000000000000 100 0 0 10 0\n");
    std::fs::write(&tcp, table).unwrap();
    std::os::unix::fs::symlink("socket:[9999]", root.join("500/fd/9")).unwrap();

    let targeted = scanner.scan(Timestamp(1), addrs, true);
    assert!(
        targeted.fds.contains(&(700, 6005)),
        "the new process was read"
    );
    assert!(!targeted.fds.contains(&(500, 9999)), "no full walk");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn targeted_scan_reads_only_known_holders_unless_a_socket_is_left_without_one() {
    let root = fixture_copy("netflow-proc");
    let info = system_info();
    let mut scanner = ProcScanner::with_root(&root, Users::default(), info);
    let addrs = vec!["10.0.0.1".parse().unwrap()];
    scanner.scan(Timestamp(0), addrs.clone(), false);

    // curl (200, a known holder) opens a new connection; sleep (500, no sockets so far)
    // gets a socket fd that is in no table.
    let tcp = root.join("net/tcp");
    let mut table = std::fs::read_to_string(&tcp).unwrap();
    table.push_str("   3: 0100000A:9C42 090000FD:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 6003 1 0000000000000000 100 0 0 10 0\n");
    std::fs::write(&tcp, table).unwrap();
    std::os::unix::fs::symlink("socket:[6003]", root.join("200/fd/9")).unwrap();
    std::os::unix::fs::symlink("socket:[9999]", root.join("500/fd/9")).unwrap();
    let holders = |scan: &netflow::attrib::ScanResult| {
        let mut pids: Vec<u32> = scan.fds.iter().map(|&(p, _)| p).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    };

    let targeted = scanner.scan(Timestamp(1), addrs.clone(), true);
    assert!(
        targeted.fds.contains(&(200, 6003)),
        "the new socket was found"
    );
    assert_eq!(
        holders(&targeted),
        [100, 101, 200, 300, 400],
        "no full walk"
    );

    // A socket only an unknown process holds sends the targeted scan to a full walk.
    let mut table = std::fs::read_to_string(&tcp).unwrap();
    table.push_str("   4: 0100000A:9C43 090000FD:01BB 01 00000000:00000000 00:00000000 00000000     0        0 6004 1 0000000000000000 100 0 0 10 0\n");
    std::fs::write(&tcp, table).unwrap();
    std::os::unix::fs::symlink("socket:[6004]", root.join("500/fd/10")).unwrap();
    let fallback = scanner.scan(Timestamp(2), addrs, true);
    assert!(fallback.fds.contains(&(500, 6004)));
    assert_eq!(holders(&fallback), [100, 101, 200, 300, 400, 500]);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_malformed_socket_row_costs_only_itself() {
    let root = fixture_copy("netflow-proc-bad");
    let tcp = root.join("net/tcp");
    let mut table = std::fs::read_to_string(&tcp).unwrap();
    table.insert_str(
        table.find('\n').unwrap() + 1,
        "   7: ZZZZ:00 not a row at all\n",
    );
    table.push_str("   8: 0100000A:0050\n");
    std::fs::write(&tcp, table).unwrap();
    let info = system_info();
    let mut scanner = ProcScanner::with_root(&root, Users::default(), info);
    let scan = scanner.scan(Timestamp(0), vec!["10.0.0.1".parse().unwrap()], false);
    assert_eq!(scan.sockets.len(), 8, "every well-formed row is still read");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_reused_fd_number_is_read_again_not_taken_from_memory() {
    let root = fixture_copy("netflow-proc-reuse");
    let mut scanner = ProcScanner::with_root(&root, Users::default(), system_info());
    let addrs = vec!["10.0.0.1".parse().unwrap()];
    scanner.scan(Timestamp(0), addrs.clone(), false);

    // curl (200) opens a connection on fd 9; the next scan reads that new fd's link.
    let tcp = root.join("net/tcp");
    let original = std::fs::read_to_string(&tcp).unwrap();
    let row = |slot: u32, port: &str, inode: u32| {
        format!("   {slot}: 0100000A:{port} 090000FD:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0000000000000000 100 0 0 10 0\n")
    };
    std::fs::write(&tcp, format!("{original}{}", row(3, "9C42", 6003))).unwrap();
    let fd9 = root.join("200/fd/9");
    std::os::unix::fs::symlink("socket:[6003]", &fd9).unwrap();
    let first = scanner.scan(Timestamp(1), addrs.clone(), false);
    assert!(first.fds.contains(&(200, 6003)));

    // That connection closes and fd 9 is reused for a new one: the remembered link is
    // stale, the new socket has no holder, and the scan reads every link again.
    std::fs::write(&tcp, format!("{original}{}", row(3, "9C44", 6005))).unwrap();
    std::fs::remove_file(&fd9).unwrap();
    std::os::unix::fs::symlink("socket:[6005]", &fd9).unwrap();
    let second = scanner.scan(Timestamp(2), addrs, false);
    assert!(second.fds.contains(&(200, 6005)), "{:?}", second.fds);
    assert!(!second.fds.contains(&(200, 6003)));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_process_with_100000_fds_is_read_whole_and_a_vanished_one_is_skipped() {
    let root = fixture_copy("netflow-proc-100k");
    // Process 500 gets 100,000 socket fds, each in the TCP table.
    let mut table = std::fs::read_to_string(root.join("net/tcp")).unwrap();
    let fd_dir = root.join("500/fd");
    for i in 0..100_000u32 {
        let inode = 1_000_000 + i;
        std::os::unix::fs::symlink(
            format!("socket:[{inode}]"),
            fd_dir.join((100 + i).to_string()),
        )
        .unwrap();
        table.push_str(&format!(
            "{:5}: 0100000A:{:04X} {:08X}:01BB 01 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n",
            10 + i,
            1024 + i % 60_000,
            0x0A00_0000 | i,
        ));
    }
    std::fs::write(root.join("net/tcp"), table).unwrap();
    // Process 700 vanished between the listing of /proc and the reading of its files:
    // its directory is there, its stat and fds are not.
    std::fs::create_dir_all(root.join("700")).unwrap();

    let mut scanner = ProcScanner::with_root(&root, Users::default(), system_info());
    let began = std::time::Instant::now();
    let scan = scanner.scan(Timestamp(0), vec!["10.0.0.1".parse().unwrap()], false);
    let first = began.elapsed();
    let held = scan.fds.iter().filter(|&&(pid, _)| pid == 500).count();
    assert_eq!(held, 100_000, "every fd");
    assert!(scan.processes.iter().all(|p| p.key.pid != 700));
    // The rescan reads no link again.
    let began = std::time::Instant::now();
    let again = scanner.scan(Timestamp(1), vec!["10.0.0.1".parse().unwrap()], false);
    println!(
        "100,000 fds: first scan {first:?}, rescan {:?}",
        began.elapsed()
    );
    assert_eq!(again.fds.len(), scan.fds.len());
    std::fs::remove_dir_all(&root).unwrap();
}

/// The dual-stack rule over /proc/net text rows (tests/fixtures/proc/dualstack), which
/// carry no IPV6_V6ONLY: a `[::]:P` beside an IPv4 socket on P is presumed V6ONLY, a
/// lone one dual-stack.
#[test]
fn wildcards_from_proc_net_text_follow_the_dual_stack_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/dualstack");
    let mut scanner = ProcScanner::with_root(root, Users::default(), system_info());
    let scan = scanner.scan(
        Timestamp(0),
        vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
        false,
    );
    assert_eq!(scan.sockets.len(), 8);
    let t = SocketTable::build(1, scan);
    let udp = |local: &str, remote: &str| match lookup(&t, Proto::Udp, local, remote) {
        Lookup::Owned(p, _) => Some(p.key.pid),
        Lookup::Unowned(Unattributed::NoSocket) => None,
        other => panic!("{local}: {other:?}"),
    };
    // :53, 0.0.0.0 (700) and [::] (701): each family to its own socket.
    assert_eq!(udp("10.0.0.1:53", "10.0.0.9:4000"), Some(700));
    assert_eq!(udp("[fd00::1]:53", "[fd00::9]:4000"), Some(701));
    // :5000, a lone [::] (703): dual-stack, so IPv4 too.
    assert_eq!(udp("10.0.0.1:5000", "10.0.0.9:4000"), Some(703));
    assert_eq!(udp("[fd00::1]:5000", "[fd00::9]:4000"), Some(703));
    // :6000, 127.0.0.1 (702) and [::] (701, presumed V6ONLY): IPv4 to another address
    // reaches neither.
    assert_eq!(udp("127.0.0.1:6000", "127.0.0.1:4000"), Some(702));
    assert_eq!(udp("10.0.0.1:6000", "10.0.0.9:4000"), None);
    assert_eq!(udp("[fd00::1]:6000", "[fd00::9]:4000"), Some(701));
    // TCP listeners follow the same rule.
    let listener = |local: &str, remote: &str| {
        let flow = FlowKey::new(Proto::Tcp, local.parse().unwrap(), remote.parse().unwrap());
        match t.listener_of(&flow) {
            Some(Lookup::Owned(p, MatchQuality::Listener)) => p.key.pid,
            other => panic!("{local}: {other:?}"),
        }
    };
    assert_eq!(listener("10.0.0.1:80", "10.0.0.9:40000"), 710);
    assert_eq!(listener("[fd00::1]:80", "[fd00::9]:40000"), 711);
    assert_eq!(listener("10.0.0.1:8080", "10.0.0.9:40000"), 711);
}
