# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_netflow_global_optspecs
    string join \n h/help V/version
end

function __fish_netflow_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_netflow_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_netflow_using_subcommand
    set -l cmd (__fish_netflow_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c netflow -n "__fish_netflow_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netflow -n "__fish_netflow_needs_command" -s V -l version -d 'Print version'
complete -c netflow -n "__fish_netflow_needs_command" -f -a "snapshot" -d 'Capture for a while, then report which processes moved the most traffic'
complete -c netflow -n "__fish_netflow_needs_command" -f -a "interfaces" -d 'List the interfaces netflow can capture on, with their state and addresses'
complete -c netflow -n "__fish_netflow_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s d -l duration -d 'How long to capture, e.g. 500ms, 30s, 5m, 1h (a bare number is seconds). Ctrl-C, SIGTERM or SIGHUP stops early and still reports everything captured' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s i -l interface -x -a "any (__fish_print_interfaces)" -d 'Interface to capture on (repeatable); `any` captures on all at once. Default: every interface that is up and has an address, loopback included, except bridge ports and bond members (their master shows the same packets)' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s f -l filter -d 'A tcpdump-style capture filter, e.g. \'tcp port 443\' (compiled by libpcap)' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s n -l top -d 'How many processes to show; 0 shows all' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l sort -d 'What to rank processes by: bytes (total, in, out) or packets (in and out)' -r -f -a "total\t''
in\t''
out\t''
packets\t''"
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l by -d 'What a row stands for: a process, or all processes sharing a name (a `curl` loop), a user, a cgroup (a service) or a container, added up, with a `processes` count' -r -f -a "process\t''
comm\t''
user\t''
cgroup\t''
container\t''"
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s c -l connections -d 'List each process\'s connections under it in the table (as `ss -tp` does): the busiest N (default 50; 0 lists all), the rest added up in one line. JSON always carries them, and CSV with `--rows flows`; N applies there too' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l pid -d 'Rows only for this process (host pid; repeatable). The traffic of processes not selected is one `filtered out` total, so the summary still adds up. Selections of one kind add up (any of them); of different kinds, each must hold' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l user -d 'Rows only for processes of this user (a name or a uid; repeatable)' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l comm -d 'Rows only for processes with this name (the kernel\'s `comm`, as the report shows it; repeatable)' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l cgroup -d 'Rows only for processes in this cgroup or below it, as the report shows the path (e.g. /system.slice/nginx.service; repeatable)' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l container -d 'Rows only for processes in this container: its id or an id prefix, as `docker ps` shows it (repeatable)' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l format -d 'Report format: table (for people), json, csv or prometheus (node_exporter\'s textfile collector). Default: from the -o file\'s extension (.json, .csv, .prom, .txt), else table' -r -f -a "table\t''
json\t''
csv\t''
prometheus\t'Prometheus text format, for node_exporter\'s textfile collector'"
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l rows -d 'What a CSV row stands for: a process, or one of its connections (its process\'s columns repeated, then the connection\'s; see `--connections`)' -r -f -a "processes\t''
flows\t''"
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s o -l output -d 'Write the report to FILE instead of standard output: a new file renamed over FILE when complete (readers never see half a report), or straight into a character device or FIFO. Symbolic links and other files are refused' -r -F
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s w -l write -d 'Also save every captured packet, full length, to a new pcap file (mode 0600), named only when complete. An existing FILE is replaced only if it is your own regular file with one link. A name ending in .pcapng writes pcapng with a comment per packet naming its process' -r -F
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l write-limit -d 'Stop writing packets to the -w file once it reaches SIZE (e.g. 500M, 2G; a bare number is MiB); capture and the report go on, and a warning says what was left out' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l rescan-interval -d 'How often to rescan /proc for sockets; unknown traffic also triggers an early, rate-limited rescan' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l cpu-limit -d 'Confine netflow itself to this many CPU cores (e.g. 0.5), through a cgroup (v2 or v1) that is removed on exit. If the limit makes netflow fall behind, the dropped packets are reported' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l mem-limit -d 'Confine netflow\'s memory, e.g. 200M or 1G (a bare number is MiB), through a cgroup. At the limit the kernel reclaims, and at worst stops netflow' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l ebpf -d 'The kernel socket log (eBPF): records which process used each socket as it happens, so connections and processes too short-lived for /proc are attributed. `auto` uses it when the kernel and privileges allow (root, or CAP_BPF and CAP_PERFMON) and says in the report when it could not; `on` fails instead' -r -f -a "auto\t''
on\t''
off\t''"
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l buffer-size -d 'Kernel capture buffer per interface, e.g. 64M (a bare number is MiB; 1M to 2047M): netflow\'s largest memory (the ring is mapped into it). Default 8M, or 32M with -w (full packets take several times the room of the 256-byte headers kept otherwise): 8 MiB of headers is about 50,000 small packets, and kept up with a million packets per second here; libpcap\'s 2 MiB drops packets in bursts' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l queue-size -d 'Packets the queue between capture and attribution holds (a run of one flow\'s packets takes one place); when it is full, packets are dropped and counted, never waited for' -r
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -l no-header -d 'Leave out the CSV header row, to append runs to one file (`>> daily.csv` from cron). Only `--format csv` has a header row'
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s q -l quiet -d 'Print no warnings on stderr (errors still are). The report keeps its warnings'
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netflow -n "__fish_netflow_using_subcommand snapshot" -s V -l version -d 'Print version'
complete -c netflow -n "__fish_netflow_using_subcommand interfaces" -l format -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c netflow -n "__fish_netflow_using_subcommand interfaces" -s h -l help -d 'Print help'
complete -c netflow -n "__fish_netflow_using_subcommand interfaces" -s V -l version -d 'Print version'
complete -c netflow -n "__fish_netflow_using_subcommand help; and not __fish_seen_subcommand_from snapshot interfaces help" -f -a "snapshot" -d 'Capture for a while, then report which processes moved the most traffic'
complete -c netflow -n "__fish_netflow_using_subcommand help; and not __fish_seen_subcommand_from snapshot interfaces help" -f -a "interfaces" -d 'List the interfaces netflow can capture on, with their state and addresses'
complete -c netflow -n "__fish_netflow_using_subcommand help; and not __fish_seen_subcommand_from snapshot interfaces help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
