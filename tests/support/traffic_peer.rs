//! A traffic generator for netflow's integration tests: one role per process, so each
//! gets its own pid, and exact byte counts reported on stdout.
//!
//! Roles (every loop is bounded in count and time):
//!   tcp-server <listen-addr> <recv-bytes> <send-bytes>
//!       accepts one connection, reads exactly recv-bytes, writes send-bytes.
//!   tcp-client <server-addr> <send-bytes> <recv-bytes>
//!       connects, writes send-bytes, reads exactly recv-bytes.
//!   udp-server <listen-addr> <count> <reply-size>
//!       unconnected socket: answers up to `count` datagrams with `reply-size` bytes each.
//!   udp-client <server-addr> <count> <size> [wait]
//!       connected socket: sends `count` datagrams of `size` bytes, one at a time,
//!       waiting up to 1 s for each reply. With `wait`, it sends only once a line
//!       arrives on stdin (the socket already set up and connected).
//!
//!   tcp-client <server-addr> <send-bytes> <recv-bytes> exit
//!       the same, but spreads its writes over about a second and exits as soon as its
//!       traffic is done (no lingering).
//!   tcp-storm-server <listen-addr> <connections> <bytes-each>
//!       accepts `connections` connections one after another, reads bytes-each from each.
//!   tcp-storm-client <server-addr> <connections> <bytes-each> <pause-ms>
//!       opens `connections` short connections in turn, writing bytes-each on each,
//!       pausing between them.
//!   prefork-server <listen-addr> <workers> <connections-per-worker> <bytes-each>
//!       binds, then forks `workers` children that share the listening socket and each
//!       accept their share of connections; each child prints `worker <pid>`.
//!   tcp-once <server-addr> <send-bytes>
//!       connects, writes send-bytes, closes and exits at once: a short-lived process.
//!   udp-storm-client <server-addr> <count> <size> <pause-ms>
//!       `count` exchanges, each from a fresh unconnected socket (as a resolver does):
//!       sends `size` bytes, waits up to 1 s for the reply, closes, pauses.
//!   tcp-hold <pairs>
//!       listens on 127.0.0.1, opens `pairs` connections to itself and accepts them
//!       (2 * pairs + 1 sockets), then holds them: a busy host's socket tables.
//!   udp-chatter <server-addr> <sockets> <seconds>
//!       opens `sockets` connected UDP sockets and sends 100 bytes on each once a
//!       second for `seconds`: many long-lived small flows.
//!   same-tick-pair <server-addr> <count> <size-a> <size-b>
//!       two processes with one pid, started within one clock tick (needs
//!       CAP_SYS_ADMIN): A makes `count` UDP exchanges of `size-a` bytes and exits at
//!       once; B gets A's pid back (clone3 with set_tid), makes `count` of `size-b` and
//!       holds its socket until stdin closes. Prints `pair <pid> <a-replies>
//!       <b-replies>` instead of `done`. An attempt whose A and B fall in two ticks is
//!       repeated (its A exchanged, its B did not).
//!   udp-client-main-exits <server-addr> <count> <size>
//!       udp-client on a second thread, started once the main thread has exited
//!       (pthread_exit): /proc/PID/fd is then empty, the fds are under
//!       /proc/PID/task/TID/fd.
//!   udp-flood <server-addr> <count> <size> [flows]
//!       sends `count` datagrams of `size` bytes as fast as it can (for at most 20 s).
//!   udp-sink <listen-addr> <seconds> [v6only]
//!       reads and discards datagrams until none arrives for `seconds`; with `v6only`,
//!       an IPv6 socket set IPV6_V6ONLY before it binds (it never receives IPv4).
//!
//! Each role prints `ready <local-addr>` once its socket is set up, and
//! `done sent=<payload bytes> recv=<payload bytes> sent_packets=<n> recv_packets=<n>`
//! when its traffic is over (packets counted for UDP only). It then keeps its socket
//! open until stdin closes, so netflow can still find the socket in /proc.

#![allow(
    clippy::disallowed_methods,
    reason = "a test helper process: it exits with a usage status like any small tool"
)]

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

const CHUNK: usize = 16 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).unwrap_or_else(|| usage()) };
    let num = |i: usize| -> usize { arg(i).parse().unwrap_or_else(|_| usage()) };
    let addr = |i: usize| -> SocketAddr { arg(i).parse().unwrap_or_else(|_| usage()) };
    match arg(0) {
        "tcp-server" => tcp_server(addr(1), num(2), num(3)),
        "tcp-client" => tcp_client(
            addr(1),
            num(2),
            num(3),
            args.get(4).is_some_and(|a| a == "exit"),
        ),
        "tcp-storm-server" => storm_server(addr(1), num(2), num(3)),
        "tcp-storm-client" => storm_client(addr(1), num(2), num(3), num(4)),
        "prefork-server" => prefork_server(addr(1), num(2), num(3), num(4)),
        "tcp-once" => tcp_once(addr(1), num(2)),
        "tcp-hold" => tcp_hold(num(1)),
        "udp-chatter" => udp_chatter(addr(1), num(2), num(3)),
        "udp-storm-client" => udp_storm_client(addr(1), num(2), num(3), num(4)),
        "udp-flood" => udp_flood(addr(1), num(2), num(3), args.get(4).map_or(1, |_| num(4))),
        "udp-sink" => udp_sink(addr(1), num(2), args.get(3).is_some_and(|a| a == "v6only")),
        "udp-server" => udp_server(addr(1), num(2), num(3)),
        "same-tick-pair" => same_tick_pair(addr(1), num(2), num(3), num(4)),
        "udp-client-main-exits" => {
            let (server, count, size) = (addr(1), num(2), num(3));
            main_thread_exits(move || udp_client(server, count, size, false))
        }
        "udp-client" => udp_client(
            addr(1),
            num(2),
            num(3),
            args.get(4).is_some_and(|a| a == "wait"),
        ),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: traffic-peer tcp-server|tcp-client|udp-server|udp-client ADDR N M");
    std::process::exit(2)
}

fn say(line: String) {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout");
}

/// The wildcard address of `server`'s family, port 0: where a client socket binds.
fn any_port_for(server: SocketAddr) -> SocketAddr {
    let any = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    any.parse().unwrap()
}

/// Holds the socket until the test closes our stdin.
fn linger<T>(socket: T) {
    let mut sink = String::new();
    while io::stdin()
        .lock()
        .read_line(&mut sink)
        .map(|n| n > 0)
        .unwrap_or(false)
    {
        sink.clear();
    }
    drop(socket);
}

fn tcp_server(listen: SocketAddr, recv: usize, send: usize) {
    let listener = TcpListener::bind(listen).expect("bind");
    say(format!("ready {}", listener.local_addr().expect("addr")));
    let (mut stream, _) = listener.accept().expect("accept");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let got = read_exactly(&mut stream, recv);
    write_bytes(&mut stream, send);
    say(format!(
        "done sent={send} recv={got} sent_packets=0 recv_packets=0"
    ));
    linger((listener, stream));
}

fn tcp_client(server: SocketAddr, send: usize, recv: usize, exit: bool) {
    let mut stream = TcpStream::connect_timeout(&server, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    say(format!("ready {}", stream.local_addr().expect("addr")));
    if exit {
        // A process that works for a while, then exits: 50 slices, 20 ms apart.
        for slice in 0..50 {
            write_bytes(&mut stream, send / 50 + usize::from(slice < send % 50));
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        write_bytes(&mut stream, send);
    }
    let got = read_exactly(&mut stream, recv);
    say(format!(
        "done sent={send} recv={got} sent_packets=0 recv_packets=0"
    ));
    if !exit {
        linger(stream);
    }
}

fn tcp_once(server: SocketAddr, send: usize) {
    let mut stream = TcpStream::connect_timeout(&server, TIMEOUT).expect("connect");
    write_bytes(&mut stream, send);
    say(format!(
        "done sent={send} recv=0 sent_packets=0 recv_packets=0"
    ));
}

fn tcp_hold(pairs: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = listener.local_addr().expect("addr");
    let mut held = Vec::with_capacity(2 * pairs);
    for _ in 0..pairs {
        held.push(TcpStream::connect(at).expect("connect"));
        held.push(listener.accept().expect("accept").0);
    }
    say(format!("ready {at}"));
    linger((listener, held));
}

fn udp_chatter(server: SocketAddr, sockets: usize, seconds: usize) {
    let bind = any_port_for(server);
    let all: Vec<UdpSocket> = (0..sockets)
        .map(|_| {
            let s = UdpSocket::bind(bind).expect("bind");
            s.connect(server).expect("connect");
            s
        })
        .collect();
    say(format!("ready {server}"));
    let payload = [b'c'; 100];
    let (mut sent, mut packets) = (0, 0);
    for _ in 0..seconds {
        for s in &all {
            if let Ok(n) = s.send(&payload) {
                sent += n;
                packets += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    say(format!(
        "done sent={sent} recv=0 sent_packets={packets} recv_packets=0"
    ));
    linger(all);
}

fn udp_storm_client(server: SocketAddr, count: usize, size: usize, pause_ms: usize) {
    say(format!("ready {server}"));
    let bind = any_port_for(server);
    let payload = vec![b'q'; size];
    let mut buf = vec![0u8; 65_536];
    let (mut sent, mut recv, mut sent_packets, mut recv_packets) = (0, 0, 0, 0);
    for _ in 0..count {
        let socket = UdpSocket::bind(bind).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        sent += socket.send_to(&payload, server).expect("send");
        sent_packets += 1;
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            recv += n;
            recv_packets += 1;
        }
        drop(socket);
        std::thread::sleep(Duration::from_millis(pause_ms as u64));
    }
    say(format!(
        "done sent={sent} recv={recv} sent_packets={sent_packets} recv_packets={recv_packets}"
    ));
    linger(());
}

fn storm_server(listen: SocketAddr, connections: usize, each: usize) {
    let listener = TcpListener::bind(listen).expect("bind");
    say(format!("ready {}", listener.local_addr().expect("addr")));
    let got = accept_and_read(&listener, connections, each);
    say(format!(
        "done sent=0 recv={got} sent_packets=0 recv_packets=0"
    ));
    linger(listener);
}

/// Accepts `connections` connections in turn, reading up to `each` bytes from each.
fn accept_and_read(listener: &TcpListener, connections: usize, each: usize) -> usize {
    let mut got = 0;
    for _ in 0..connections {
        let Ok((mut stream, _)) = listener.accept() else {
            break;
        };
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        got += read_exactly(&mut stream, each);
    }
    got
}

fn storm_client(server: SocketAddr, connections: usize, each: usize, pause_ms: usize) {
    say(format!("ready {server}"));
    let mut sent = 0;
    for _ in 0..connections {
        let Ok(mut stream) = TcpStream::connect_timeout(&server, TIMEOUT) else {
            break;
        };
        write_bytes(&mut stream, each);
        sent += each;
        drop(stream);
        std::thread::sleep(Duration::from_millis(pause_ms as u64));
    }
    say(format!(
        "done sent={sent} recv=0 sent_packets=0 recv_packets=0"
    ));
    linger(());
}

#[allow(
    unsafe_code,
    reason = "fork(2): the test needs children that share a socket"
)]
fn prefork_server(listen: SocketAddr, workers: usize, per_worker: usize, each: usize) {
    let listener = TcpListener::bind(listen).expect("bind");
    say(format!("ready {}", listener.local_addr().expect("addr")));
    for _ in 0..workers {
        // SAFETY: this process is single-threaded here (no thread has been spawned),
        // so the child may run arbitrary code after fork.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            say(format!("worker {}", std::process::id()));
            accept_and_read(&listener, per_worker, each);
            linger(listener);
            std::process::exit(0);
        }
    }
    linger(listener);
}

/// `count` exchanges from a new socket connected to `server`: the socket and the
/// replies received (each waited for up to 1 s).
fn exchange(server: SocketAddr, count: usize, size: usize) -> (UdpSocket, usize) {
    let socket = UdpSocket::bind(any_port_for(server)).expect("bind");
    socket.connect(server).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let payload = vec![b'p'; size];
    let mut buf = vec![0u8; 65_536];
    let mut replies = 0;
    for _ in 0..count {
        socket.send(&payload).expect("send");
        replies += usize::from(socket.recv(&mut buf).is_ok());
    }
    (socket, replies)
}

/// clone3(2)'s arguments (linux/sched.h, `CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = stat.rsplit(')').next().expect("stat fields");
    after_name
        .split_whitespace()
        .nth(19)
        .expect("starttime")
        .parse()
        .expect("number")
}

#[allow(
    unsafe_code,
    reason = "fork(2), clone3(2) with set_tid and pipes: two processes with one pid is this role's point"
)]
fn same_tick_pair(server: SocketAddr, count: usize, size_a: usize, size_b: usize) {
    say(format!("ready {server}"));
    // SAFETY: sysconf has no preconditions.
    let tick_ns = 1_000_000_000 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let boottime_ns = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let pipe = || {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors pipe(2) returns.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
        fds
    };
    let read_byte = |fd| {
        let mut b = [0u8; 1];
        // SAFETY: b is a valid one-byte buffer.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        (n == 1).then_some(b[0])
    };
    let write_byte = |fd, b: u8| {
        // SAFETY: b is a valid one-byte buffer.
        unsafe { libc::write(fd, (&raw const b).cast(), 1) };
    };
    for _attempt in 0..50 {
        // Start just after a tick begins, so that A and B (~1 ms apart) share it.
        let into = boottime_ns() % tick_ns;
        std::thread::sleep(Duration::from_nanos(tick_ns - into + tick_ns / 20));
        // SAFETY: this process is single-threaded; the child makes socket calls only,
        // then _exit.
        let a = unsafe { libc::fork() };
        assert!(a >= 0, "fork");
        if a == 0 {
            let (_, replies) = exchange(server, count, size_a);
            // SAFETY: ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(replies.min(255) as i32) };
        }
        let a_ticks = start_ticks(a);
        let mut status = 0;
        // SAFETY: status is a valid int for waitpid to fill.
        unsafe { libc::waitpid(a, &mut status, 0) };
        let a_replies = libc::WEXITSTATUS(status);
        let [report_r, report_w] = pipe();
        let [hold_r, hold_w] = pipe();
        let tid: libc::pid_t = a;
        let args = CloneArgs {
            exit_signal: libc::SIGCHLD as u64,
            set_tid: (&raw const tid) as u64,
            set_tid_size: 1,
            ..CloneArgs::default()
        };
        // SAFETY: args is a valid clone_args of the size passed, and set_tid points to
        // one pid; with no stack given, the child runs on a copy of this one, as after
        // fork. The process is single-threaded.
        let b = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &raw const args,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if b == 0 {
            // SAFETY: closing the parent's ends, which this copy inherited.
            unsafe {
                libc::close(report_r);
                libc::close(hold_w);
            }
            // B: its own start tick decides whether the attempt counts.
            let same = start_ticks(std::process::id() as i32) == a_ticks;
            write_byte(report_w, u8::from(same));
            if same {
                let (socket, replies) = exchange(server, count, size_b);
                write_byte(report_w, replies.min(255) as u8);
                // Holds the socket until the parent closes the pipe.
                read_byte(hold_r);
                drop(socket);
            }
            // SAFETY: ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: closing this process's own ends of the pipes the child uses.
        unsafe {
            libc::close(report_w);
            libc::close(hold_r);
        }
        let b_replies = (b > 0 && read_byte(report_r) == Some(1))
            .then(|| read_byte(report_r))
            .flatten();
        let Some(b_replies) = b_replies else {
            // A and B in two ticks (or the pid was taken): again, with a new A.
            // SAFETY: reaping our child, closing our pipe ends.
            unsafe {
                if b > 0 {
                    libc::waitpid(b as i32, &mut status, 0);
                }
                libc::close(report_r);
                libc::close(hold_w);
            }
            continue;
        };
        say(format!("pair {a} {a_replies} {b_replies}"));
        linger(());
        // SAFETY: releases B (it reads end of file), then reaps it.
        unsafe {
            libc::close(hold_w);
            libc::waitpid(b as i32, &mut status, 0);
        }
        return;
    }
    panic!("no two processes with one pid within one tick in 50 attempts");
}

/// Runs `work` on a second thread once the main thread has exited, as a C program that
/// calls pthread_exit in main does; the process ends when `work` returns.
#[allow(
    unsafe_code,
    reason = "ending the main thread alone (exit(2), not exit_group) is what this role is for"
)]
fn main_thread_exits(work: impl FnOnce() + Send + 'static) -> ! {
    std::thread::spawn(move || {
        // /proc/self is the thread group leader's: a zombie once the main thread exited.
        for _ in 0..500 {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            if state.starts_with('Z') {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        work();
    });
    // pthread_exit would unwind into Rust's main, which may not catch a forced unwind
    // (glibc aborts): the raw exit(2) system call ends this thread alone, unwinding
    // nothing.
    // SAFETY: nothing the main thread owns is used by the other thread, which runs
    // until it returns; then the process ends.
    unsafe {
        libc::syscall(libc::SYS_exit, 0);
    }
    unreachable!("exit(2) returned")
}

fn udp_server(listen: SocketAddr, count: usize, reply: usize) {
    let socket = UdpSocket::bind(listen).expect("bind");
    socket.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    say(format!("ready {}", socket.local_addr().expect("addr")));
    let mut buf = vec![0u8; 65_536];
    let answer = vec![b'r'; reply];
    let (mut sent, mut recv, mut packets) = (0, 0, 0);
    while packets < count {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            break;
        };
        recv += n;
        packets += 1;
        sent += socket.send_to(&answer, from).expect("send");
    }
    say(format!(
        "done sent={sent} recv={recv} sent_packets={packets} recv_packets={packets}"
    ));
    linger(socket);
}

fn udp_client(server: SocketAddr, count: usize, size: usize, wait: bool) {
    let bind = any_port_for(server);
    let socket = UdpSocket::bind(bind).expect("bind");
    socket.connect(server).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    say(format!("ready {}", socket.local_addr().expect("addr")));
    if wait {
        io::stdin()
            .lock()
            .read_line(&mut String::new())
            .expect("go");
    }
    let payload = vec![b'q'; size];
    let mut buf = vec![0u8; 65_536];
    let (mut sent, mut recv, mut sent_packets, mut recv_packets) = (0, 0, 0, 0);
    for _ in 0..count {
        sent += socket.send(&payload).expect("send");
        sent_packets += 1;
        if let Ok(n) = socket.recv(&mut buf) {
            recv += n;
            recv_packets += 1;
        }
    }
    say(format!(
        "done sent={sent} recv={recv} sent_packets={sent_packets} recv_packets={recv_packets}"
    ));
    linger(socket);
}

/// Sends `count` datagrams from `flows` sockets in turn (so consecutive packets are of
/// different flows when `flows` > 1).
fn udp_flood(server: SocketAddr, count: usize, size: usize, flows: usize) {
    let sockets: Vec<UdpSocket> = (0..flows.max(1))
        .map(|_| {
            let socket = UdpSocket::bind(any_port_for(server)).expect("bind");
            socket.connect(server).expect("connect");
            socket
        })
        .collect();
    say(format!("ready {}", sockets[0].local_addr().expect("addr")));
    let payload = vec![b'f'; size];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (mut sent, mut packets) = (0, 0);
    while packets < count && std::time::Instant::now() < deadline {
        if let Ok(n) = sockets[packets % sockets.len()].send(&payload) {
            sent += n;
            packets += 1;
        }
    }
    say(format!(
        "done sent={sent} recv=0 sent_packets={packets} recv_packets=0"
    ));
    linger(sockets);
}

fn udp_sink(listen: SocketAddr, quiet_secs: usize, v6only: bool) {
    let socket = if v6only {
        bind_v6only(listen)
    } else {
        UdpSocket::bind(listen).expect("bind")
    };
    socket
        .set_read_timeout(Some(Duration::from_secs(quiet_secs as u64)))
        .expect("timeout");
    say(format!("ready {}", socket.local_addr().expect("addr")));
    let mut buf = vec![0u8; 65_536];
    let (mut recv, mut packets) = (0, 0);
    while let Ok(n) = socket.recv(&mut buf) {
        recv += n;
        packets += 1;
    }
    say(format!(
        "done sent=0 recv={recv} sent_packets=0 recv_packets={packets}"
    ));
    linger(socket);
}

/// A UDP socket bound to the IPv6 `listen` with IPV6_V6ONLY set first (the flag is
/// fixed at bind, and std binds as it creates).
fn bind_v6only(listen: SocketAddr) -> UdpSocket {
    use rustix::net::{bind, socket, sockopt, AddressFamily, SocketType};
    let fd = socket(AddressFamily::INET6, SocketType::DGRAM, None).expect("socket");
    sockopt::set_ipv6_v6only(&fd, true).expect("IPV6_V6ONLY");
    bind(&fd, &listen).expect("bind");
    UdpSocket::from(fd)
}

fn write_bytes(stream: &mut TcpStream, mut left: usize) {
    let chunk = vec![b'x'; CHUNK];
    while left > 0 {
        let n = left.min(CHUNK);
        stream.write_all(&chunk[..n]).expect("write");
        left -= n;
    }
}

fn read_exactly(stream: &mut TcpStream, want: usize) -> usize {
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    while got < want {
        match stream.read(&mut buf[..CHUNK.min(want - got)]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}
