#!/usr/bin/env bash
# deploy/rack.sh: a local rack of ternd servers, each in its own network
# namespace joined by a veth pair to a bridge in the root namespace (or, where
# namespaces are unavailable, on distinct 127.0.0.1 ports). Every verb reads
# the rack's state from DIR, so any shell can drive a rack another one started.
# See deploy/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: rack.sh [--dir DIR] VERB [ARGS]
  up N [--observers M] [--ternd PATH] [--tick MS] [--standalone] [--loopback]
       [--mode dpdk]  dpdk: each server also gets a veth (dp0, no kernel address) on a
                      second bridge, run by DPDK (net_af_packet vdev, --no-huge); peers
                      talk UDP over it (server.N hosts are the DPDK addresses); ZooKeeper
                      clients stay on eth0 (the kernel)
                      start N voters (+M observers); cleans a leftover rack in DIR first
  down [--keep]       stop every server, remove namespaces, veths, bridge, nft table
                      and DIR's files (--keep: leave logs and data)
  addr I              host:port for clients of server I
  connect-string      every server's addr, comma-separated
  start I | stop I | kill I | pause I | resume I
                      stop: SIGTERM, bounded wait, then SIGKILL; kill: SIGKILL;
                      pause: SIGSTOP; resume: SIGCONT
  partition I [J...]  cut servers I J... off from the others (they still reach each
                      other, and the host still reaches every server); replaces any
                      earlier partition
  heal                remove the partition
  status              per server: pid state, mode and zxid from srvr
  wait-leader [SECS]  wait (default 20 s) until exactly one server is leader; print it
  logs I [-f]         server I's ternd.log
  pid I | ns I        server I's pid (if running) | network namespace
  env                 the rack's state (KEY=VALUE lines)
Sites (netns mode): up N --sites "1,2,3:4,5" [--wan "delay=20ms loss=1%"] [--wan-seed S]
                      puts each ':'-separated group of servers on its own bridge; a
                      tern-wanem relay (own namespace) joins site 1 to every other site
                      (so site 2 <-> site 3 crosses two relays); the host is in site 1
  wan set WORDS...    change the relays' settings (delay= jitter= loss= dup= reorder=
                      rate= queue=; see tern-wanem --help); later words win
  wan cut | wan heal  drop everything between the sites | stop dropping
  wan stats           one JSON report per relay (frames, bytes, drops, delay histogram)
  wan site I          the site number of server I
DIR defaults to $TERN_RACK_DIR or /tmp/tern-rack. Waits are bounded by
$RACK_START_TIMEOUT (10 s, client port open) and $RACK_STOP_TIMEOUT (10 s, SIGTERM).
EOF
}

# limits and defaults
readonly MAX_SITES=3                  # site 1 and a relay to each other site
readonly MAX_NETNS_SERVERS=250        # addresses .1 .. .250; the bridge is .254
readonly MAX_LOOPBACK_SERVERS=33      # 3 ports per server in a 100-port block
readonly BRIDGE_HOST=254
readonly NS_CLIENT_PORT=2181
readonly NS_QUORUM_PORT=2888
readonly NS_ELECTION_PORT=3888
readonly FOURLW_TIMEOUT=3
readonly KILL_WAIT_S=5
readonly PROBE_TRIES=64
START_TIMEOUT=${RACK_START_TIMEOUT:-10}
STOP_TIMEOUT=${RACK_STOP_TIMEOUT:-10}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
	echo "rack: $*" >&2
	exit 1
}
say() { echo "rack: $*"; }
warn() { echo "rack: $*" >&2; }

# ---- state (DIR/rack.env, KEY=VALUE, read without eval) ----

declare -A ST=()
DIR=""

state_file() { echo "$DIR/rack.env"; }

load_state() {
	local f k v
	f=$(state_file)
	[ -f "$f" ] || return 1
	ST=()
	while IFS='=' read -r k v; do
		case "$k" in
		MODE | ID | N | OBS | TOTAL | TERND | TICK | STANDALONE | NET | BRIDGE | NFT | PORT_BASE | SITES | WANEM | DPDK | DNET) ST[$k]=$v ;;
		*) ;;
		esac
	done <"$f"
	[ -n "${ST[MODE]:-}" ] && [ -n "${ST[ID]:-}" ] && [ -n "${ST[TOTAL]:-}" ]
}

need_state() {
	load_state || die "no rack in $DIR (run: rack.sh --dir $DIR up N)"
}

save_state() {
	local f k
	f=$(state_file)
	: >"$f.tmp"
	for k in MODE ID N OBS TOTAL TERND TICK STANDALONE NET BRIDGE NFT PORT_BASE SITES WANEM DPDK DNET; do
		printf '%s=%s\n' "$k" "${ST[$k]:-}" >>"$f.tmp"
	done
	mv -f "$f.tmp" "$f"
}

# the rack id: 4 hex digits from DIR's path, so names are stable per DIR and
# two racks in different DIRs do not clash
rack_crc() { printf '%s' "$DIR" | cksum | cut -d' ' -f1; }
rack_id() { printf '%04x' $(($(rack_crc) & 0xffff)); }

ns_name() { echo "tern-${ST[ID]}-$1"; }
veth_host() { echo "tv${ST[ID]}h$1"; }
# --mode dpdk: the DPDK side of server $1 (host end; dp0 in the namespace) and its bridge
veth_dpdk() { echo "tv${ST[ID]}d$1"; }
dpdk_bridge() { echo "tb${ST[ID]}d"; }
dpdk_ip() { echo "${ST[DNET]}.$1"; }

server_ip() {
	if [ "${ST[MODE]}" = netns ]; then echo "${ST[NET]}.$1"; else echo 127.0.0.1; fi
}
client_port() {
	if [ "${ST[MODE]}" = netns ]; then echo $NS_CLIENT_PORT; else echo $((ST[PORT_BASE] + 3 * ($1 - 1))); fi
}
quorum_port() {
	if [ "${ST[MODE]}" = netns ]; then echo $NS_QUORUM_PORT; else echo $((ST[PORT_BASE] + 3 * ($1 - 1) + 1)); fi
}
election_port() {
	if [ "${ST[MODE]}" = netns ]; then echo $NS_ELECTION_PORT; else echo $((ST[PORT_BASE] + 3 * ($1 - 1) + 2)); fi
}

check_index() {
	if ! [[ "${1:-}" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt "${ST[TOTAL]}" ]; then
		die "server index '${1:-}' is not in 1..${ST[TOTAL]}"
	fi
}

# ---- processes (by pid; a pid counts only while its cmdline names our config) ----

pid_file() { echo "$DIR/$1/pid"; }
cfg_file() { echo "$DIR/$1/zoo.cfg"; }

# the pid of server $1 if that process is alive (zombies count as dead), else fail
live_pid() {
	local pf pid st
	pf=$(pid_file "$1")
	[ -f "$pf" ] || return 1
	pid=$(<"$pf")
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/stat" ] || return 1
	st=$(proc_state "$pid") || return 1
	[ "$st" != Z ] && [ "$st" != X ] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$(cfg_file "$1")" || return 1
	echo "$pid"
}

# one-letter state from /proc/PID/stat (after the ")" closing comm)
proc_state() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	echo "${s%% *}"
}

# wait up to $2 seconds for pid $1 to be gone or a zombie
wait_dead() {
	local pid=$1 n=$(($2 * 10)) st
	while [ "$n" -gt 0 ]; do
		st=$(proc_state "$pid") || return 0
		[ "$st" = Z ] || [ "$st" = X ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

port_open() {
	# shellcheck disable=SC2016 # the inner bash expands its own arguments
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# send a four-letter word to server $1 and print the reply (bounded)
fourlw() {
	# shellcheck disable=SC2016 # the inner bash expands its own arguments
	timeout "$FOURLW_TIMEOUT" bash -c \
		'exec 3<>"/dev/tcp/$1/$2" && printf %s "$3" >&3 && cat <&3' \
		_ "$(server_ip "$1")" "$(client_port "$1")" "$2" 2>/dev/null || true
}

launch() {
	local i=$1 cfg log pid n
	cfg=$(cfg_file "$i")
	log="$DIR/$i/ternd.log"
	echo "--- rack: start $(date '+%F %T') ---" >>"$log"
	# exec keeps the subshell's pid through ip-netns-exec and setsid (neither
	# forks here), so $! is ternd's own pid
	if [ "${ST[MODE]}" = netns ]; then
		(exec ip netns exec "$(ns_name "$i")" setsid "${ST[TERND]}" "$cfg" </dev/null >>"$log" 2>&1) &
	else
		(exec setsid "${ST[TERND]}" "$cfg" </dev/null >>"$log" 2>&1) &
	fi
	pid=$!
	echo "$pid" >"$(pid_file "$i")"
	n=20 # the exec chain settles within 2 s
	while [ "$n" -gt 0 ] && ! live_pid "$i" >/dev/null; do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
		n=$((n - 1))
	done
	live_pid "$i" >/dev/null || {
		warn "server $i exited at once; last lines of $log:"
		tail -n 5 "$log" >&2
		return 1
	}
}

# wait (bounded) until every listed server's client port accepts connections
wait_ports() {
	local deadline i pending
	deadline=$((SECONDS + START_TIMEOUT))
	pending=("$@")
	while [ ${#pending[@]} -gt 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
		local left=()
		for i in "${pending[@]}"; do
			live_pid "$i" >/dev/null || {
				warn "server $i died while starting; last lines of $DIR/$i/ternd.log:"
				tail -n 5 "$DIR/$i/ternd.log" >&2
				return 1
			}
			port_open "$(server_ip "$i")" "$(client_port "$i")" || left+=("$i")
		done
		pending=("${left[@]+"${left[@]}"}")
		[ ${#pending[@]} -eq 0 ] || sleep 0.1
	done
	[ ${#pending[@]} -eq 0 ] ||
		warn "client port of server(s) ${pending[*]} not open after ${START_TIMEOUT}s (running; see logs)"
}

# ---- network ----

# first 10.X.Y prefix, from DIR's hash, that no host address or route uses
pick_net() {
	local crc x y t
	crc=$(rack_crc)
	x=$((200 + (crc >> 16) % 50))
	y=$(((crc >> 8) & 0xff))
	for ((t = 0; t < PROBE_TRIES; t++)); do
		if ! ip -4 -o addr show | grep -qF " 10.$x.$y." &&
			[ -z "$(ip -4 route show "10.$x.$y.0/24" 2>/dev/null)" ]; then
			echo "10.$x.$y"
			return 0
		fi
		y=$(((y + 1) & 0xff))
	done
	return 1
}

# first 100-port block, from DIR's hash, below the ephemeral range (an
# outgoing connection could hold any port in it) with no socket on its ports
pick_ports() {
	local crc base t p busy total=$1 lo=20000 hi nblocks
	crc=$(rack_crc)
	hi=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$hi" -gt $((lo + 1000)) ] || { lo=10000; hi=20000; }
	nblocks=$(((hi - lo) / 100 - 1))
	base=$((lo + ((crc >> 8) % nblocks) * 100))
	for ((t = 0; t < PROBE_TRIES; t++)); do
		busy=0
		for ((p = base; p < base + 3 * total; p++)); do
			if [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then
				busy=1
				break
			fi
		done
		if [ "$busy" = 0 ]; then
			echo "$base"
			return 0
		fi
		base=$((base + 100))
		[ "$base" -lt $((hi - 100)) ] || base=$lo
	done
	return 1
}

net_up() {
	local total=$1 br i ns vh
	br=${ST[BRIDGE]}
	ip link add "$br" type bridge || return 1
	ip link set "$br" alias "$DIR" || return 1 # the owner, checked by net_down
	ip addr add "${ST[NET]}.$BRIDGE_HOST/24" dev "$br" || return 1
	ip link set "$br" up || return 1
	for ((i = 1; i <= total; i++)); do
		ns=$(ns_name "$i")
		vh=$(veth_host "$i")
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
		ip link add "$vh" type veth peer name eth0 netns "$ns" || return 1
		ip link set "$vh" master "$br" || return 1
		ip link set "$vh" up || return 1
		ip -n "$ns" addr add "${ST[NET]}.$i/24" dev eth0 || return 1
		ip -n "$ns" link set eth0 up || return 1
	done
	[ "${ST[DPDK]:-}" = 1 ] || return 0
	# --mode dpdk: a second bridge, no addresses: only DPDK speaks on it
	ip link add "$(dpdk_bridge)" type bridge || return 1
	ip link set "$(dpdk_bridge)" up || return 1
	for ((i = 1; i <= total; i++)); do
		ns=$(ns_name "$i")
		vh=$(veth_dpdk "$i")
		ip link add "$vh" type veth peer name dp0 netns "$ns" || return 1
		ip link set "$vh" master "$(dpdk_bridge)" || return 1
		ip link set "$vh" up || return 1
		ip -n "$ns" link set dp0 up || return 1
		# af_packet sees frames as the kernel left them: no checksum/segmentation offload
		no_offload "$vh"
		ip netns exec "$ns" ethtool -K dp0 tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
		# DPDK owns dp0 as it would a NIC bound to vfio-pci: the namespace's
		# kernel must neither see its frames (af_packet taps them before the
		# ingress hook) nor send on it; it talks through ternd's exception
		# tap (tern.dpdk.exception) instead
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.dp0.disable_ipv6=1 >/dev/null 2>&1 || true
		if command -v nft >/dev/null; then
			ip netns exec "$ns" nft "add table netdev tern_dp0; add chain netdev tern_dp0 in { type filter hook ingress device dp0 priority 0; policy drop; }" || return 1
		else
			warn "no nft: the kernel of $ns also sees dp0's frames"
		fi
	done
}

# remove every namespace, veth, bridge and nft table named for rack id $1,
# killing (by pid) whatever still runs in those namespaces
net_down() {
	local id=$1 ns pid dev owner
	owner=$(cat "/sys/class/net/tb$id/ifalias" 2>/dev/null || true)
	if [ -n "$owner" ] && [ "$owner" != "$DIR" ]; then
		warn "rack id $id belongs to the rack in $owner; not touching it"
		return 1
	fi
	if command -v nft >/dev/null; then
		nft delete table bridge "tern_$id" 2>/dev/null || true
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^tern-$id-(w?[0-9]+)$" || true); do
		for pid in $(ip netns pids "$ns" 2>/dev/null || true); do
			kill -KILL "$pid" 2>/dev/null || true
			wait_dead "$pid" "$KILL_WAIT_S" || warn "pid $pid in $ns did not die"
		done
		ip netns delete "$ns" 2>/dev/null || warn "could not delete namespace $ns"
	done
	for dev in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
		grep -E "^(tv${id}h[0-9]+|tv${id}d[0-9]+|tv${id}w[0-9]+[ab]|tb${id}|tb${id}d|tb${id}s[0-9]+)$" || true); do
		ip link delete "$dev" 2>/dev/null || true
	done
	# --mode dpdk: the EAL's runtime directories (--file-prefix tern-<id>-<i>)
	rm -rf /var/run/dpdk/tern-"$id"-[0-9]* 2>/dev/null || true
}

# ---- sites: one bridge per site, tern-wanem relays between them ----

# the site (1-based) of server $1 from ST[SITES] ("1,2,3:4,5"); servers not
# named are in site 1
site_of() {
	local k=1 grp m
	IFS=':' read -r -a grp <<<"${ST[SITES]}"
	for m in "${grp[@]}"; do
		case ",$m," in *",$1,"*) echo "$k"; return 0 ;; esac
		k=$((k + 1))
	done
	echo 1
}
site_count() {
	local grp
	IFS=':' read -r -a grp <<<"${ST[SITES]}"
	echo "${#grp[@]}"
}
site_bridge() { if [ "$1" = 1 ]; then echo "${ST[BRIDGE]}"; else echo "tb${ST[ID]}s$1"; fi; }
relay_ns() { echo "tern-${ST[ID]}-w$1"; }

sites_check() {
	local spec=$1 total=$2 grp g m x seen=","
	[[ "$spec" =~ ^[0-9,]+(:[0-9,]+)+$ ]] || die "up: --sites wants groups like 1,2,3:4,5 (two or more)"
	IFS=':' read -r -a grp <<<"$spec"
	[ "${#grp[@]}" -le "$MAX_SITES" ] || die "up: at most $MAX_SITES sites"
	for g in "${grp[@]}"; do
		IFS=',' read -r -a x <<<"$g"
		for m in "${x[@]}"; do
			if ! [[ "$m" =~ ^[0-9]+$ ]] || [ "$m" -lt 1 ] || [ "$m" -gt "$total" ]; then
				die "up: --sites: '$m' is not a server in 1..$total"
			fi
			case "$seen" in *",$m,"*) die "up: --sites: server $m is in two sites" ;; esac
			seen+="$m,"
		done
	done
}

# frames must stay under tern-wanem's frame size (no TSO/GSO super-frames) and
# carry real checksums (tx off: a raw socket copies a CHECKSUM_PARTIAL frame as is)
no_offload() { ethtool -K "$@" tso off gso off gro off tx off >/dev/null 2>&1 || true; }

wan_write_conf() { # $1 = settings words; keeps a "cut" line if there is one
	local cut=""
	[ ! -f "$DIR/wan.conf" ] || cut=$(sed -n 's/^\(cut\|heal\)$/\1/p' "$DIR/wan.conf" | tail -n 1)
	printf '%s\n%s\n' "$1" "${cut:-heal}" >"$DIR/wan.conf.tmp"
	mv -f "$DIR/wan.conf.tmp" "$DIR/wan.conf"
}

# build site bridges 2.., move each server's veth to its site, start a relay
# per site k >= 2 between site 1 and site k (a star: no L2 loop)
sites_up() {
	local wan=$1 seed=$2 k i ns br nsites
	nsites=$(site_count)
	command -v ethtool >/dev/null || warn "sites: no ethtool; GSO frames may be dropped by the relay"
	wan_write_conf "$wan"
	for ((i = 1; i <= ST[TOTAL]; i++)); do
		ip netns exec "$(ns_name "$i")" ethtool -K eth0 tso off gso off gro off tx off >/dev/null 2>&1 || true
		no_offload "$(veth_host "$i")"
	done
	no_offload "${ST[BRIDGE]}"
	for ((k = 2; k <= nsites; k++)); do
		br=$(site_bridge "$k")
		ns=$(relay_ns "$k")
		ip link add "$br" type bridge || return 1
		ip link set "$br" alias "$DIR" || return 1
		ip link set "$br" up || return 1
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
		ip link add "tv${ST[ID]}w${k}a" type veth peer name wa netns "$ns" || return 1
		ip link add "tv${ST[ID]}w${k}b" type veth peer name wb netns "$ns" || return 1
		ip link set "tv${ST[ID]}w${k}a" master "${ST[BRIDGE]}" up || return 1
		ip link set "tv${ST[ID]}w${k}b" master "$br" up || return 1
		ip -n "$ns" link set wa up || return 1
		ip -n "$ns" link set wb up || return 1
		no_offload "tv${ST[ID]}w${k}a"
		no_offload "tv${ST[ID]}w${k}b"
		ip netns exec "$ns" ethtool -K wa tso off gso off gro off tx off >/dev/null 2>&1 || true
		ip netns exec "$ns" ethtool -K wb tso off gso off gro off tx off >/dev/null 2>&1 || true
		mkdir -p "$DIR/wan-$k"
		(exec ip netns exec "$ns" setsid "${ST[WANEM]}" --a wa --b wb --seed "$((seed + k))" \
			--conf "$DIR/wan.conf" --stats "$DIR/wan-$k/stats.json" \
			</dev/null >>"$DIR/wan-$k/wanem.log" 2>&1) &
		echo "$!" >"$DIR/wan-$k/pid"
	done
	for ((i = 1; i <= ST[TOTAL]; i++)); do
		k=$(site_of "$i")
		[ "$k" = 1 ] || ip link set "$(veth_host "$i")" master "$(site_bridge "$k")" || return 1
	done
	sleep 0.2
	for ((k = 2; k <= nsites; k++)); do
		relay_pid "$k" >/dev/null || { warn "relay $k died:"; tail -n 3 "$DIR/wan-$k/wanem.log" >&2; return 1; }
	done
	say "sites: $nsites sites ($(printf '%s' "${ST[SITES]}" | sed 's/:/ | /g')), relays: $(sed -n 1p "$DIR/wan.conf")"
}

# the pid of relay $1 if alive and really tern-wanem for this rack
relay_pid() {
	local pf="$DIR/wan-$1/pid" pid
	[ -f "$pf" ] || return 1
	pid=$(<"$pf")
	[[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$DIR/wan.conf" || return 1
	echo "$pid"
}

wan_signal() { # $1 = signal; every relay
	local k pid
	for ((k = 2; k <= $(site_count); k++)); do
		pid=$(relay_pid "$k") || die "wan: relay $k is not running"
		kill "-$1" "$pid"
	done
}

cmd_wan() {
	[ -n "${ST[SITES]}" ] || die "wan: this rack has no sites (up ... --sites)"
	local verb=${1:-} k pid old words key w
	shift || true
	case "$verb" in
	set)
		[ $# -ge 1 ] || die "wan set: name settings (delay=20ms ...)"
		# merge: one word per key, the newest wins
		declare -A kv=()
		local order=()
		for w in $(sed -n 1p "$DIR/wan.conf") "$@"; do
			key=${w%%=*}
			[ -n "${kv[$key]+x}" ] || order+=("$key")
			kv[$key]=$w
		done
		words=""
		for key in "${order[@]}"; do words+="${words:+ }${kv[$key]}"; done
		wan_write_conf "$words"
		wan_signal HUP
		say "wan: $words"
		;;
	cut | heal)
		printf '%s\n%s\n' "$(sed -n 1p "$DIR/wan.conf")" "$verb" >"$DIR/wan.conf.tmp"
		mv -f "$DIR/wan.conf.tmp" "$DIR/wan.conf"
		wan_signal HUP
		say "wan: $verb"
		;;
	stats)
		for ((k = 2; k <= $(site_count); k++)); do
			pid=$(relay_pid "$k") || die "wan: relay $k is not running"
			old=$(stat -c %Y.%s "$DIR/wan-$k/stats.json" 2>/dev/null; sed -n 's/^{"report":\([0-9]*\).*/\1/p' "$DIR/wan-$k/stats.json" 2>/dev/null || true)
			kill -USR1 "$pid"
			local n=50 # 5 s
			while [ "$n" -gt 0 ]; do
				[ "$(stat -c %Y.%s "$DIR/wan-$k/stats.json" 2>/dev/null; sed -n 's/^{"report":\([0-9]*\).*/\1/p' "$DIR/wan-$k/stats.json" 2>/dev/null || true)" = "$old" ] || break
				sleep 0.1
				n=$((n - 1))
			done
			cat "$DIR/wan-$k/stats.json"
		done
		;;
	site) check_index "${1:-}"; site_of "$1" ;;
	*) die "wan: set WORDS | cut | heal | stats | site I" ;;
	esac
}

# ---- verbs ----

write_configs() {
	local total=$1 i j lines="" kind ip cp
	for ((j = 1; j <= total; j++)); do
		kind=""
		[ "$j" -le "${ST[N]}" ] || kind=":observer"
		local peer_ip
		peer_ip=$(server_ip "$j")
		[ "${ST[DPDK]:-}" != 1 ] || peer_ip=$(dpdk_ip "$j") # peers over DPDK, clients on eth0
		lines+="server.$j=$peer_ip:$(quorum_port "$j"):$(election_port "$j")$kind;$(server_ip "$j"):$(client_port "$j")"$'\n'
	done
	for ((i = 1; i <= total; i++)); do
		ip=$(server_ip "$i")
		cp=$(client_port "$i")
		mkdir -p "$DIR/$i/data"
		echo "$i" >"$DIR/$i/data/myid"
		{
			echo "# written by deploy/rack.sh: rack ${ST[ID]} (${ST[MODE]}), server $i"
			echo "tickTime=${ST[TICK]}"
			echo "initLimit=10"
			echo "syncLimit=5"
			echo "dataDir=$DIR/$i/data"
			echo "clientPort=$cp"
			echo "clientPortAddress=$ip"
			echo "4lw.commands.whitelist=*"
			if [ "${ST[DPDK]:-}" = 1 ]; then
				echo "tern.dataplane=dpdk"
				echo "tern.dpdk.port=net_af_packet0,iface=dp0"
				echo "tern.dpdk.ip=$(dpdk_ip "$i")"
				echo "tern.dpdk.netmask=255.255.255.0"
				echo "tern.dpdk.mbufs=4096"
				# two workers, each with a queue pair of its own (qpairs: queue 0 is
				# the control thread's), a ring deep enough for a window of segments
				echo "tern.workers=2"
				echo "tern.dpdk.eal=-l 0 --no-huge -m 256 --no-pci --no-telemetry --file-prefix tern-${ST[ID]}-$i --vdev net_af_packet0,iface=dp0,qpairs=3,framecnt=4096 --log-level=lib.eal:error"
			fi
			# --cfg lines for this server (or every server: '*')
			sed -n -e "s/^\*://p" -e "s/^$i://p" "$DIR/extra.cfg" 2>/dev/null || true
			if [ "${ST[STANDALONE]}" != 1 ]; then
				[ "$i" -le "${ST[N]}" ] || echo "peerType=observer"
				printf '%s' "$lines"
			fi
		} >"$(cfg_file "$i")"
	done
}

cmd_up() {
	local n="" obs=0 ternd="" tick=200 standalone=0 loopback=0 total i
	local sites="" wan="" wan_seed=1 wanem="" extra_cfg=() mode=kernel
	while [ $# -gt 0 ]; do
		case "$1" in
		--observers) obs=${2:?--observers needs M}; shift 2 ;;
		--ternd) ternd=${2:?--ternd needs PATH}; shift 2 ;;
		--tick) tick=${2:?--tick needs MS}; shift 2 ;;
		--standalone) standalone=1; shift ;;
		--loopback) loopback=1; shift ;;
		--sites) sites=${2:?--sites needs GROUPS}; shift 2 ;;
		--wan) wan=${2:?--wan needs SETTINGS}; shift 2 ;;
		--wan-seed) wan_seed=${2:?--wan-seed needs N}; shift 2 ;;
		--wanem) wanem=${2:?--wanem needs PATH}; shift 2 ;;
		--cfg) extra_cfg+=("${2:?--cfg needs I:LINE}"); shift 2 ;;
		--mode) mode=${2:?--mode needs kernel or dpdk}; shift 2 ;;
		-*) die "up: unknown option $1" ;;
		*) [ -z "$n" ] || die "up: extra argument $1"; n=$1; shift ;;
		esac
	done
	[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "up: N must be a positive number"
	[[ "$obs" =~ ^[0-9]+$ ]] || die "up: --observers must be a number"
	[[ "$tick" =~ ^[1-9][0-9]*$ ]] || die "up: --tick must be a positive number"
	case "$mode" in kernel | dpdk) ;; *) die "up: --mode must be kernel or dpdk" ;; esac
	if [ "$mode" = dpdk ]; then
		[ "$loopback" = 0 ] || die "up: --mode dpdk needs network namespaces (not --loopback)"
		[ "$standalone" = 0 ] || die "up: --mode dpdk is for an ensemble (not --standalone)"
	fi
	[ -n "$ternd" ] || ternd="$HERE/../build/mgmt/ternd"
	[ -x "$ternd" ] || die "up: $ternd is not executable"
	ternd=$(cd "$(dirname "$ternd")" && pwd)/$(basename "$ternd")
	total=$((n + obs))
	if [ -n "$sites" ]; then
		[ -n "$wanem" ] || wanem="$(dirname "$ternd")/../tools/tern-wanem"
		[ -x "$wanem" ] || die "up: $wanem is not executable (--wanem PATH)"
		wanem=$(cd "$(dirname "$wanem")" && pwd)/$(basename "$wanem")
		[ "$loopback" = 0 ] || die "up: --sites needs network namespaces"
		sites_check "$sites" "$total"
	fi

	# a leftover rack in this DIR (or its names without a state file) goes first
	do_down 0 quiet
	mkdir -p "$DIR"
	ST=([ID]="" [N]=$n [OBS]=$obs [TOTAL]=$total [TERND]=$ternd [TICK]=$tick
		[STANDALONE]=$standalone [BRIDGE]="" [NFT]="" [NET]="" [PORT_BASE]=""
		[SITES]=$sites [WANEM]=$wanem [DPDK]=$([ "$mode" = dpdk ] && echo 1 || echo 0) [DNET]="")
	: >"$DIR/extra.cfg"
	for i in "${extra_cfg[@]+"${extra_cfg[@]}"}"; do
		[[ "$i" =~ ^(\*|[0-9]+):.+=.* ]] || die "up: --cfg wants I:KEY=VALUE (I a server or *)"
		printf '%s\n' "$i" >>"$DIR/extra.cfg"
	done
	# two DIRs whose hashes collide: the later one takes the next free id
	local t id
	id=$(rack_crc)
	for ((t = 0; t < PROBE_TRIES; t++)); do
		ST[ID]=$(printf '%04x' $(((id + t) & 0xffff)))
		[ -e "/sys/class/net/tb${ST[ID]}" ] || break
	done
	ST[BRIDGE]="tb${ST[ID]}"
	ST[NFT]="tern_${ST[ID]}"

	local why=""
	if [ "$loopback" = 1 ]; then
		why="asked for (--loopback)"
	elif [ "$(id -u)" != 0 ]; then
		why="not root"
	elif ! command -v ip >/dev/null; then
		why="no ip command"
	elif [ "$total" -gt "$MAX_NETNS_SERVERS" ]; then
		die "up: at most $MAX_NETNS_SERVERS servers"
	else
		ST[MODE]=netns
		ST[NET]=$(pick_net) || die "up: no free 10.x.y.0/24 subnet"
		# DPDK addresses live only on the address-less DPDK bridge: no kernel route sees them
		[ "${ST[DPDK]}" != 1 ] || ST[DNET]="172.31.$(($(rack_crc) & 0xff))"
		save_state
		if ! net_up "$total" 2>"$DIR/net.err"; then
			why="network namespaces unavailable: $(head -n 1 "$DIR/net.err")"
			net_down "${ST[ID]}" || true
		fi
		rm -f "$DIR/net.err"
		if [ -z "$why" ] && [ -n "$sites" ]; then
			sites_up "$wan" "$wan_seed" || { do_down 0 quiet; die "up: sites: could not build the WAN"; }
		fi
	fi
	[ -z "$why" ] || [ -z "$sites" ] || die "up: --sites needs network namespaces ($why)"
	[ -z "$why" ] || [ "${ST[DPDK]}" != 1 ] || die "up: --mode dpdk needs network namespaces ($why)"
	if [ -n "$why" ]; then
		[ "$total" -le "$MAX_LOOPBACK_SERVERS" ] || die "up: at most $MAX_LOOPBACK_SERVERS servers on loopback"
		ST[MODE]=loopback
		ST[NET]=""
		ST[PORT_BASE]=$(pick_ports "$total") || die "up: no free block of loopback ports"
	fi
	save_state
	write_configs "$total"
	for ((i = 1; i <= total; i++)); do
		launch "$i" || { do_down 1 quiet; die "up: server $i did not start"; }
	done
	if ! wait_ports $(seq 1 "$total"); then
		do_down 1 quiet
		die "up: a server died while starting"
	fi
	if [ "${ST[MODE]}" = netns ]; then
		[ "${ST[DPDK]}" != 1 ] || say "dpdk: peers over DPDK (net_af_packet on dp0, ${ST[DNET]}.0/24, bridge $(dpdk_bridge))"
		say "mode netns: $total server(s) in namespaces tern-${ST[ID]}-1..$total on bridge ${ST[BRIDGE]} (${ST[NET]}.0/24, host ${ST[NET]}.$BRIDGE_HOST)"
	else
		say "mode loopback ($why): $total server(s) on 127.0.0.1 ports ${ST[PORT_BASE]}..$((ST[PORT_BASE] + 3 * total - 1)); partition is unsupported"
	fi
	[ "${ST[STANDALONE]}" != 1 ] || say "standalone: each server runs alone (no server.N lines)"
	say "clients: $(connect_string)"
}

# stop the rack in DIR and clean every name its id owns; $1=1 keeps logs/data
do_down() {
	local keep=$1 quiet=${2:-} id i pid
	id=$(rack_id)
	! load_state || id=${ST[ID]}
	# every DIR/<i>/pid, even without a state file (live_pid checks the cmdline)
	for i in "$DIR"/[0-9]*/pid; do
		[ -f "$i" ] || continue
		i=${i%/pid}
		i=${i##*/}
		if pid=$(live_pid "$i"); then
			stop_pid "$pid" "$STOP_TIMEOUT" || warn "server $i (pid $pid) did not die"
		fi
		rm -f "$(pid_file "$i")"
	done
	# relays: SIGTERM first, so each writes its final report
	for i in "$DIR"/wan-[0-9]*/pid; do
		[ -f "$i" ] || continue
		pid=$(<"$i")
		if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$DIR/wan.conf"; then
			stop_pid "$pid" "$STOP_TIMEOUT" || warn "relay (pid $pid) did not die"
		fi
		rm -f "$i"
	done
	if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
		net_down "$id" || true
	fi
	if [ -d "$DIR" ]; then
		if [ "$keep" = 0 ]; then
			for i in "$DIR"/[0-9]*; do
				[ -d "$i" ] && [ -f "$i/zoo.cfg" ] && rm -rf -- "$i"
			done
			rm -rf -- "$DIR"/wan-[0-9]* "$DIR/wan.conf" "$DIR/extra.cfg"
		fi
		rm -f "$DIR/rack.env" "$DIR/rack.env.tmp"
		rmdir "$DIR" 2>/dev/null || true
	fi
	[ -n "$quiet" ] || say "down: rack $id in $DIR removed"
}

# SIGTERM (and SIGCONT, so a paused server sees it), bounded wait, then SIGKILL
stop_pid() {
	local pid=$1 t=$2
	kill -TERM "$pid" 2>/dev/null || return 0
	kill -CONT "$pid" 2>/dev/null || true
	wait_dead "$pid" "$t" && return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait_dead "$pid" "$KILL_WAIT_S"
}

cmd_down() {
	local keep=0
	[ "${1:-}" != --keep ] || keep=1
	do_down "$keep"
}

connect_string() {
	local i out=""
	for ((i = 1; i <= ST[TOTAL]; i++)); do
		out+="${out:+,}$(server_ip "$i"):$(client_port "$i")"
	done
	echo "$out"
}

cmd_start() {
	local i=$1 pid
	if pid=$(live_pid "$i"); then
		say "server $i already running (pid $pid)"
		return 0
	fi
	if [ "${ST[MODE]}" = netns ] && ! ip netns list | awk '{print $1}' | grep -qxF "$(ns_name "$i")"; then
		die "namespace $(ns_name "$i") is gone; run up again"
	fi
	launch "$i" || die "server $i did not start"
	wait_ports "$i" || die "server $i died while starting"
	say "server $i started (pid $(live_pid "$i"))"
}

cmd_signal() {
	local verb=$1 i=$2 pid
	pid=$(live_pid "$i") || die "server $i is not running"
	case "$verb" in
	stop)
		stop_pid "$pid" "$STOP_TIMEOUT" || die "server $i (pid $pid) did not die"
		rm -f "$(pid_file "$i")"
		;;
	kill)
		kill -KILL "$pid"
		wait_dead "$pid" "$KILL_WAIT_S" || die "server $i (pid $pid) did not die"
		rm -f "$(pid_file "$i")"
		;;
	pause) kill -STOP "$pid" ;;
	resume) kill -CONT "$pid" ;;
	esac
	say "$verb server $i (pid $pid)"
}

need_netns_nft() {
	[ "${ST[MODE]}" = netns ] || {
		echo "rack: partition is unsupported in loopback mode (all servers share 127.0.0.1 and" \
			"dial peers from ephemeral ports, so no rule can tell them apart)" >&2
		exit 3
	}
	command -v nft >/dev/null || die "partition needs nft (Debian: nftables)"
}

cmd_partition() {
	local i j a="" b="" inside
	need_netns_nft
	[ $# -ge 1 ] || die "partition: name at least one server"
	for i in "$@"; do check_index "$i"; done
	for ((j = 1; j <= ST[TOTAL]; j++)); do
		inside=0
		for i in "$@"; do [ "$i" != "$j" ] || inside=1; done
		if [ "$inside" = 1 ]; then
			a+="${a:+, }\"$(veth_host "$j")\""
			[ "${ST[DPDK]:-}" != 1 ] || a+=", \"$(veth_dpdk "$j")\""
		else
			b+="${b:+, }\"$(veth_host "$j")\""
			[ "${ST[DPDK]:-}" != 1 ] || b+=", \"$(veth_dpdk "$j")\""
		fi
	done
	# one transaction: drop any earlier partition, then cut A from B both ways
	# on the bridge (the host's own traffic to the servers is not forwarded, so
	# it is untouched)
	{
		echo "add table bridge ${ST[NFT]}"
		echo "delete table bridge ${ST[NFT]}"
		echo "table bridge ${ST[NFT]} {"
		echo "  chain forward {"
		echo "    type filter hook forward priority 0; policy accept;"
		if [ -n "$b" ]; then
			echo "    iifname { $a } oifname { $b } drop"
			echo "    iifname { $b } oifname { $a } drop"
		fi
		echo "  }"
		echo "}"
	} | nft -f - || die "partition: nft failed"
	say "partition: server(s) $* cut off from the rest"
}

cmd_heal() {
	if [ "${ST[MODE]}" = netns ] && command -v nft >/dev/null; then
		nft delete table bridge "${ST[NFT]}" 2>/dev/null || true
	fi
	say "heal: no partition"
}

srvr_field() { # $1 = srvr reply, $2 = field name
	printf '%s\n' "$1" | sed -n "s/^$2: *//p" | head -n 1 | tr -d '\r'
}

cmd_status() {
	local i pid st kind where reply mode zxid
	say "rack ${ST[ID]} mode ${ST[MODE]}$([ "${ST[STANDALONE]}" != 1 ] || echo ' standalone') in $DIR"
	for ((i = 1; i <= ST[TOTAL]; i++)); do
		kind=participant
		[ "$i" -le "${ST[N]}" ] || kind=observer
		where="$(server_ip "$i"):$(client_port "$i")"
		[ "${ST[MODE]}" != netns ] || where="$(ns_name "$i") $where"
		mode=- zxid=-
		if pid=$(live_pid "$i"); then
			st=$(proc_state "$pid" || echo '?')
			if [ "$st" = T ] || [ "$st" = t ]; then
				st=paused
			else
				st=running
				reply=$(fourlw "$i" srvr)
				if [ -z "$reply" ]; then
					mode="no-answer"
				elif printf '%s' "$reply" | grep -q "not currently serving"; then
					mode="not-serving"
				else
					mode=$(srvr_field "$reply" Mode)
					zxid=$(srvr_field "$reply" Zxid)
				fi
			fi
		else
			pid=- st=down
		fi
		printf '%s %s %s pid=%s %s mode=%s zxid=%s\n' "$i" "$kind" "$where" "$pid" "$st" "${mode:--}" "${zxid:--}"
	done
}

cmd_wait_leader() {
	local secs=${1:-20} deadline i leaders
	[[ "$secs" =~ ^[0-9]+$ ]] || die "wait-leader: SECS must be a number"
	deadline=$((SECONDS + secs))
	while :; do
		leaders=()
		for ((i = 1; i <= ST[TOTAL]; i++)); do
			live_pid "$i" >/dev/null || continue
			[ "$(srvr_field "$(fourlw "$i" srvr)" Mode)" != leader ] || leaders+=("$i")
		done
		if [ ${#leaders[@]} -eq 1 ]; then
			echo "${leaders[0]}"
			return 0
		fi
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 0.2
	done
	warn "wait-leader: ${#leaders[@]} leader(s) after ${secs}s"
	return 1
}

cmd_logs() {
	local f="$DIR/$1/ternd.log"
	[ -f "$f" ] || die "no log for server $1"
	if [ "${2:-}" = -f ]; then tail -n +1 -f "$f"; else cat "$f"; fi
}

main() {
	local args=() verb
	DIR=${TERN_RACK_DIR:-/tmp/tern-rack}
	while [ $# -gt 0 ]; do
		case "$1" in
		--dir) DIR=${2:?--dir needs DIR}; shift 2 ;;
		--dir=*) DIR=${1#--dir=}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	[ ${#args[@]} -ge 1 ] || { usage >&2; exit 2; }
	mkdir -p "$(dirname "$DIR")"
	DIR=$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")
	verb=${args[0]}
	set -- "${args[@]:1}"
	case "$verb" in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	help) usage ;;
	*)
		need_state
		case "$verb" in
		addr) check_index "${1:-}"; echo "$(server_ip "$1"):$(client_port "$1")" ;;
		connect-string) connect_string ;;
		start) check_index "${1:-}"; cmd_start "$1" ;;
		stop | kill | pause | resume) check_index "${1:-}"; cmd_signal "$verb" "$1" ;;
		partition) cmd_partition "$@" ;;
		wan) cmd_wan "$@" ;;
		heal) cmd_heal ;;
		status) cmd_status ;;
		wait-leader) cmd_wait_leader "$@" ;;
		logs) check_index "${1:-}"; cmd_logs "$1" "${2:-}" ;;
		pid) check_index "${1:-}"; live_pid "$1" || die "server $1 is not running" ;;
		ns)
			check_index "${1:-}"
			[ "${ST[MODE]}" = netns ] || die "loopback mode: no namespaces"
			ns_name "$1"
			;;
		env) cat "$(state_file)" ;;
		*) usage >&2; exit 2 ;;
		esac
		;;
	esac
}

main "$@"
