#!/usr/bin/env bash
# Host preparation for ternd's dpdk mode on bare metal: hugepages, binding the
# dataplane NIC to vfio-pci, and a core-layout check. See deploy/baremetal.md.
#
#   host-setup.sh check                 what this host has (hugepages, IOMMU, NICs, cores)
#   host-setup.sh hugepages SIZE        reserve SIZE (e.g. 2G) as 2 MiB pages (1 GiB
#                                       pages: --page 1G), split over NUMA nodes, mount hugetlbfs
#   host-setup.sh bind PCI [PCI...]     unbind from the kernel driver, bind to vfio-pci
#   host-setup.sh unbind PCI DRIVER     give the NIC back to DRIVER (e.g. ice, mlx5_core)
#   host-setup.sh cores WORKERS         print isolcpus/nohz_full/irqaffinity and tern.workers
#
# Options: --dry-run (print the writes, change nothing), --sysfs DIR (a sysfs
# root other than /sys; the tests use a fake tree), --mount DIR|none (where
# to mount hugetlbfs), --page 2M|1G. Uses only sysfs, so it works without
# DPDK's dpdk-hugepages.py / dpdk-devbind.py (package `dpdk`), which do the
# same things interactively.
set -euo pipefail

SYS=/sys
DRY=0
PAGE=2M
MOUNT=/dev/hugepages

die() { echo "host-setup: $*" >&2; exit 1; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

# write VALUE FILE: the one place that changes the host
write() {
	if [ "$DRY" = 1 ]; then
		echo "write $2 <- $1"
	else
		printf '%s' "$1" >"$2" || die "cannot write $1 to $2"
	fi
}

# bytes of a size like 512M, 2G, 1024K, 4096
to_bytes() {
	local s=$1 n u
	[[ $s =~ ^([0-9]+)([KkMmGg]?)$ ]] || die "bad size '$s' (like 512M or 2G)"
	n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
	case $u in
	K | k) echo $((n << 10)) ;;
	M | m) echo $((n << 20)) ;;
	G | g) echo $((n << 30)) ;;
	*) echo "$n" ;;
	esac
}

valid_pci() { [[ $1 =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]]; }

cmd_check() {
	local f d n
	echo "hugepages:"
	for d in "$SYS"/kernel/mm/hugepages/hugepages-*; do
		[ -d "$d" ] || continue
		echo "  $(basename "$d"): total $(cat "$d/nr_hugepages") free $(cat "$d/free_hugepages")"
	done
	if [ -d "$SYS/kernel/iommu_groups" ] && [ -n "$(ls -A "$SYS/kernel/iommu_groups" 2>/dev/null)" ]; then
		echo "iommu: on ($(ls "$SYS/kernel/iommu_groups" | wc -l) groups)"
	else
		echo "iommu: off (vfio-pci needs intel_iommu=on or amd_iommu=on, or vfio noiommu mode)"
	fi
	echo "network devices (PCI, driver):"
	n=0
	for d in "$SYS"/bus/pci/devices/*; do
		[ -d "$d" ] || continue
		f=$(cat "$d/class" 2>/dev/null || echo 0)
		[[ $f == 0x02* ]] || continue # class 02: network controller
		local drv=none
		[ -L "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
		echo "  $(basename "$d") $drv numa $(cat "$d/numa_node" 2>/dev/null || echo ?)"
		n=$((n + 1))
	done
	[ $n -gt 0 ] || echo "  (none: use vdevs, e.g. net_af_packet, as deploy/rack.sh --mode dpdk does)"
	echo "cores: $(nproc --all 2>/dev/null || echo ?) online"
}

cmd_hugepages() {
	[ $# -eq 1 ] || usage
	local bytes page_bytes pages nodes per node dir
	bytes=$(to_bytes "$1")
	page_bytes=$(to_bytes "$PAGE")
	[ "$page_bytes" = $((2 << 20)) ] || [ "$page_bytes" = $((1 << 30)) ] || die "--page must be 2M or 1G"
	pages=$(((bytes + page_bytes - 1) / page_bytes))
	[ "$pages" -gt 0 ] || die "size must be above 0"
	local kb=$((page_bytes >> 10))
	nodes=()
	for node in "$SYS"/devices/system/node/node[0-9]*; do
		[ -d "$node/hugepages/hugepages-${kb}kB" ] && nodes+=("$node")
	done
	if [ ${#nodes[@]} -gt 0 ]; then
		# DPDK allocates from the NIC's socket: give every node its share
		per=$(((pages + ${#nodes[@]} - 1) / ${#nodes[@]}))
		for node in "${nodes[@]}"; do
			write "$per" "$node/hugepages/hugepages-${kb}kB/nr_hugepages"
		done
	else
		dir=$SYS/kernel/mm/hugepages/hugepages-${kb}kB
		[ -d "$dir" ] || die "this kernel has no ${PAGE} hugepages ($dir)"
		write "$pages" "$dir/nr_hugepages"
	fi
	if [ "$MOUNT" = none ]; then
		: # the caller mounts hugetlbfs itself
	elif [ "$DRY" = 1 ]; then
		echo "mount -t hugetlbfs -o pagesize=$PAGE nodev $MOUNT"
	elif ! grep -qs " $MOUNT hugetlbfs " /proc/mounts; then
		mkdir -p "$MOUNT"
		mount -t hugetlbfs -o "pagesize=$PAGE" nodev "$MOUNT" || die "cannot mount hugetlbfs on $MOUNT"
	fi
	echo "hugepages: $pages x $PAGE requested"
}

cmd_bind() {
	[ $# -ge 1 ] || usage
	local pci d
	for pci in "$@"; do
		valid_pci "$pci" || die "bad PCI address '$pci' (like 0000:3b:00.0)"
		d=$SYS/bus/pci/devices/$pci
		[ -d "$d" ] || die "no PCI device $pci"
		if [ -L "$d/driver" ] && [ "$(basename "$(readlink "$d/driver")")" = vfio-pci ]; then
			echo "$pci: already on vfio-pci"
			continue
		fi
		[ "$DRY" = 1 ] || [ -d "$SYS/bus/pci/drivers/vfio-pci" ] || modprobe vfio-pci ||
			die "vfio-pci is not available (modprobe vfio-pci)"
		[ -L "$d/driver" ] && write "$pci" "$d/driver/unbind"
		write vfio-pci "$d/driver_override"
		write "$pci" "$SYS/bus/pci/drivers_probe"
		echo "$pci: bound to vfio-pci"
	done
}

cmd_unbind() {
	[ $# -eq 2 ] || usage
	local pci=$1 drv=$2 d
	valid_pci "$pci" || die "bad PCI address '$pci'"
	[[ $drv =~ ^[A-Za-z0-9_-]+$ ]] || die "bad driver name '$drv'"
	d=$SYS/bus/pci/devices/$pci
	[ -d "$d" ] || die "no PCI device $pci"
	[ -L "$d/driver" ] && write "$pci" "$d/driver/unbind"
	write "$drv" "$d/driver_override"
	write "$pci" "$SYS/bus/pci/drivers_probe"
	write "" "$d/driver_override"
	echo "$pci: given back to $drv"
}

# Core 0 (and its hyperthread) stays with the kernel; the control thread gets
# the next core, each worker one more. Prints what to put where.
cmd_cores() {
	[ $# -eq 1 ] || usage
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] || die "WORKERS must be a number >= 1"
	local w=$1 total last
	total=$(ls -d "$SYS"/devices/system/cpu/cpu[0-9]* 2>/dev/null | wc -l)
	[ "$total" -gt 0 ] || total=$(nproc --all)
	[ $((w + 2)) -le "$total" ] || die "$w workers + control + housekeeping need $((w + 2)) cores; this host has $total"
	last=$((w + 1))
	echo "kernel command line: isolcpus=1-$last nohz_full=1-$last rcu_nocbs=1-$last irqaffinity=0"
	echo "zoo.cfg: tern.workers=$w"
	echo "zoo.cfg: tern.polling=busy"
	echo "zoo.cfg: tern.dpdk.eal=-l 1-$last --main-lcore 1 -a <NIC PCI address>"
	echo "systemd: CPUAffinity=1-$last"
}

args=()
while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) DRY=1 ;;
	--sysfs) [ $# -ge 2 ] || usage; SYS=$2; shift ;;
	--page) [ $# -ge 2 ] || usage; PAGE=$2; shift ;;
	--mount) [ $# -ge 2 ] || usage; MOUNT=$2; shift ;;
	-h | --help) usage ;;
	*) args+=("$1") ;;
	esac
	shift
done
[ ${#args[@]} -ge 1 ] || usage
verb=${args[0]}
set -- "${args[@]:1}"
case $verb in
check) cmd_check ;;
hugepages) cmd_hugepages "$@" ;;
bind) cmd_bind "$@" ;;
unbind) cmd_unbind "$@" ;;
cores) cmd_cores "$@" ;;
*) usage ;;
esac
