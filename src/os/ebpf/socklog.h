/* The few kernel types socklog.bpf.c reads, for CO-RE.
 *
 * Only names and types matter: with preserve_access_index every field access is
 * relocated against the running kernel's BTF at load time, so these need not match
 * any kernel's layout. A hand-written subset instead of a 3 MB bpftool dump keeps the
 * source reviewable and the build independent of the machine it runs on.
 */
#ifndef NETFLOW_SOCKLOG_H
#define NETFLOW_SOCKLOG_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;
typedef signed char __s8;
typedef short __s16;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef __u16 __sum16;
typedef __u64 __be64;

enum {
	BPF_ANY = 0,
};

enum bpf_map_type {
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct in6_addr {
	union {
		__u8 u6_addr8[16];
	} in6_u;
};

struct ns_common {
	unsigned int inum;
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	unsigned char skc_ipv6only : 1; /* a bitfield: read with BPF_CORE_READ_BITFIELD */
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
};

struct task_struct {
	int tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	__u64 start_boottime;
	char comm[16];
};

#pragma clang attribute pop

/* The program's context: a fixed UAPI layout, so not relocated. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

#endif
