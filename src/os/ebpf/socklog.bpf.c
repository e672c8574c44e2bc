// SPDX-License-Identifier: GPL-2.0
/* netflow's kernel socket log: who used which socket, recorded in the process's own
 * context, so connections and processes too short-lived for /proc are still
 * attributed.
 *
 * Only raw tracepoints, which load on locked-down kernels (no kprobes, no fentry) and
 * need no tracefs mount:
 *   inet_sock_set_state  TCP CLOSE -> SYN_SENT runs in the connecting process: its
 *                        owner is kept by socket until the next transition, when the
 *                        source port is known, and then logged.
 *   sock_send_length     (kernel >= 6.3) run in the process that sends or receives:
 *   sock_recv_length     the socket's 4-tuple (or bound port) and the process.
 * Each (socket, process, tuple) is logged once to a ring buffer. Records outlive the
 * socket: userspace keeps them after reading, so a connection that closed long before
 * its packets were matched is still known.
 *
 * Rebuild (the object is committed, so cargo needs no clang):
 *   tests/ebpf/build-socklog.sh
 */
#include "socklog.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

/* Which hook logged the socket: in each record, for debugging (netflow ignores it). */
#define SEEN_CONNECT 1
#define SEEN_SEND 2
#define SEEN_RECV 3

/* One record: a socket and the process that used it. Layout shared with
 * src/os/ebpf/mod.rs (RawRecord): keep both in step. */
struct owner_record {
	__u64 start_boottime; /* the process's start, ns since boot: tells reused pids apart */
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 netns;
	__u16 family;
	__u16 proto;
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u8 seen_by;
	__u8 v6only; /* IPV6_V6ONLY: an IPv6 socket that never receives IPv4 */
	__u8 pad[6];
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	char comm[16];
};

/* What a socket was last logged with, per process: log again only when it changes. */
struct seen_key {
	__u64 sk;
	__u32 tgid;
	__u32 pad;
};

struct seen_value {
	__u16 sport;
	__u16 dport;
	__u32 pad;
	__u8 daddr[16];
};

struct owner {
	__u64 start_boottime;
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 pad;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 19); /* 512 KiB: ~5,400 records (96 bytes each), read every 5 ms */
} RECORDS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct seen_key);
	__type(value, struct seen_value);
} SEEN SEC(".maps");

/* TCP sockets between connect() and their next state, by socket address. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct owner);
} CONNECTING SEC(".maps");

/* Records the ring buffer had no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} LOST SEC(".maps");

static __always_inline void current_owner(struct owner *o)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	o->tgid = bpf_get_current_pid_tgid() >> 32;
	o->uid = (__u32)bpf_get_current_uid_gid();
	o->ppid = BPF_CORE_READ(task, real_parent, tgid);
	o->start_boottime = BPF_CORE_READ(leader, start_boottime);
	BPF_CORE_READ_STR_INTO(&o->comm, leader, comm);
}

/* Fills the socket's family, protocol and tuple; false for anything but TCP/UDP
 * over IPv4/IPv6. */
static __always_inline int read_socket(struct sock *sk, struct owner_record *r)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);

	if ((family != AF_INET && family != AF_INET6) ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return 0;
	r->family = family;
	r->proto = proto;
	r->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	r->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (family == AF_INET) {
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(r->saddr, &s, 4);
		__builtin_memcpy(r->daddr, &d, 4);
	} else {
		BPF_CORE_READ_INTO(&r->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&r->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		/* Fixed at bind, so the flag read now is the socket's for good. */
		r->v6only = BPF_CORE_READ_BITFIELD_PROBED(sk, __sk_common.skc_ipv6only);
	}
	return 1;
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&LOST, &zero);

	if (lost)
		__sync_fetch_and_add(lost, 1);
}

/* What decides whether a socket must be logged again: its ports and peer. Read on
 * every call, so only these few fields (the rest of the tuple, the process and its
 * name are read only when logging). False for anything but IPv4/IPv6. */
static __always_inline int read_seen(struct sock *sk, struct seen_value *v)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET) {
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(v->daddr, &d, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&v->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return 0;
	}
	v->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	v->dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	return 1;
}

/* Logs the socket with its owner unless this process already logged it with the same
 * tuple. `o` is NULL when the current task is the owner (read only if logging). */
static __always_inline void log_socket(struct sock *sk, __u32 tgid, const struct owner *o,
				       __u8 seen_by)
{
	struct seen_key key = {.sk = (__u64)sk, .tgid = tgid};
	struct seen_value value = {};
	struct seen_value *last;
	struct owner_record r = {};
	struct owner current = {};

	if (!read_seen(sk, &value) || value.sport == 0)
		return;
	last = bpf_map_lookup_elem(&SEEN, &key);
	if (last && last->sport == value.sport && last->dport == value.dport &&
	    __builtin_memcmp(last->daddr, value.daddr, 16) == 0)
		return;
	if (!read_socket(sk, &r)) {
		/* Not TCP/UDP (raw, SCTP...): remembered, so it costs one lookup next time. */
		bpf_map_update_elem(&SEEN, &key, &value, BPF_ANY);
		return;
	}
	if (!o) {
		current_owner(&current);
		o = &current;
	}
	r.start_boottime = o->start_boottime;
	r.tgid = o->tgid;
	r.ppid = o->ppid;
	r.uid = o->uid;
	r.seen_by = seen_by;
	__builtin_memcpy(r.comm, o->comm, 16);
	if (bpf_ringbuf_output(&RECORDS, &r, sizeof(r), 0) != 0) {
		count_lost(); /* not marked seen: the next use tries again */
		return;
	}
	bpf_map_update_elem(&SEEN, &key, &value, BPF_ANY);
}

SEC("raw_tracepoint/inet_sock_set_state")
int socklog_state(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	int oldstate = (int)ctx->args[1];
	int newstate = (int)ctx->args[2];
	__u64 key = (__u64)sk;

	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) {
		/* connect(): the current task is the owner, the port is not chosen yet. */
		struct owner o = {};

		current_owner(&o);
		bpf_map_update_elem(&CONNECTING, &key, &o, BPF_ANY);
		return 0;
	}
	if (oldstate == TCP_SYN_SENT) {
		/* Established, refused or timed out (softirq context): log with the owner
		 * recorded at connect(). */
		struct owner *o = bpf_map_lookup_elem(&CONNECTING, &key);

		if (o) {
			struct owner copy = *o;

			bpf_map_delete_elem(&CONNECTING, &key);
			log_socket(sk, copy.tgid, &copy, SEEN_CONNECT);
		}
	}
	return 0;
}

static __always_inline int on_message(struct bpf_raw_tracepoint_args *ctx, __u8 seen_by)
{
	log_socket((struct sock *)ctx->args[0], bpf_get_current_pid_tgid() >> 32, NULL, seen_by);
	return 0;
}

SEC("raw_tracepoint/sock_send_length")
int socklog_send(struct bpf_raw_tracepoint_args *ctx)
{
	return on_message(ctx, SEEN_SEND);
}

SEC("raw_tracepoint/sock_recv_length")
int socklog_recv(struct bpf_raw_tracepoint_args *ctx)
{
	return on_message(ctx, SEEN_RECV);
}

char LICENSE[] SEC("license") = "GPL";
