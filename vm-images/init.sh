#!/bin/sh
# vmbh guest init (PID 1 of the initramfs built by vm-images/build-image).
# Mounts the API file systems, loads the modules listed in /etc/vmbh/modules.*,
# starts the guest agent on its serial port, prints the ready marker (then loads
# the file system modules in the background, and creates /run/vmbh/modules.done
# and prints VMBH-MODULES-DONE when they are in), then
# starts and stops each hyperv daemon as its /dev/vmbus node comes and goes
# (what the package's udev rule + systemd unit do: SYSTEMD_WANTS + BindsTo).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
RUN=/run/vmbh
DAEMONS=/etc/vmbh/daemons
AGENT=/usr/sbin/vmbh-agent
AGENT_PORT_NAME=vmbh.agent
AGENT_FALLBACK=/dev/ttyS1

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/virtio-ports $RUN /var/log /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run && mkdir -p $RUN
exec </dev/console >/dev/console 2>&1

# vmbh.trace on the kernel command line: print the uptime at each step.
case " $(cat /proc/cmdline) " in
*" vmbh.trace "*) TRACE=1; trace() { read -r up _ </proc/uptime; echo "vmbh-init: $up $*"; } ;;
*) trace() { :; } ;;
esac
trace start

# busybox poweroff/reboot/halt signal PID 1; the kernel's orderly_poweroff runs
# /sbin/poweroff (hv_utils shutdown requests end up here).
trap 'sync; poweroff -f' USR2
trap 'sync; reboot -f' TERM
trap 'sync; halt -f' USR1

hostname "$(cat /etc/hostname)"
ip link set lo up 2>/dev/null
syslogd -O /var/log/messages

load_modules() {  # $1: list file; failures are logged, not fatal (hv_* need VMBus)
	[ -s "$1" ] || return 0
	if [ -n "$TRACE" ]; then  # one at a time, to see what each costs
		for m in $(cat "$1"); do modprobe $m >>$RUN/modules.log 2>&1; trace "$m $?"; done
		return 0
	fi
	modprobe -a $(cat "$1") >>$RUN/modules.log 2>&1 || true
}

link_virtio_ports() {  # what udev's 50-udev-default.rules does for virtio ports
	for p in /sys/class/virtio-ports/*; do
		[ -r "$p/name" ] || continue
		name=$(cat "$p/name")
		[ -n "$name" ] && ln -sf "../${p##*/}" "/dev/virtio-ports/$name"
	done
}

has_virtio_console() {  # a virtio-serial device is bound to virtio_console
	for d in /sys/bus/virtio/drivers/virtio_console/virtio*; do
		[ -e "$d" ] && return 0
	done
	return 1
}

agent_port() {  # the named virtio port, waiting up to ~2 s for the host to name it
	i=0
	while has_virtio_console && [ $i -lt 100 ]; do
		link_virtio_ports
		[ -e /dev/virtio-ports/$AGENT_PORT_NAME ] && {
			echo /dev/virtio-ports/$AGENT_PORT_NAME; return; }
		usleep 20000
		i=$((i + 1))
	done
	echo $AGENT_FALLBACK
}

start_agent() {
	$AGENT --device "$AGENT_DEV" </dev/null >>$RUN/agent.log 2>&1 3<&- &
	echo $! >$RUN/agent.pid
}

wait_agent_open() {  # until the agent holds its port open (so READY means reachable), <= ~2 s
	dev=$(readlink -f "$AGENT_DEV")
	i=0
	while [ $i -lt 100 ] && alive $RUN/agent.pid; do
		for fd in /proc/$(cat $RUN/agent.pid)/fd/*; do
			[ "$(readlink "$fd")" = "$dev" ] && return 0
		done
		usleep 20000
		i=$((i + 1))
	done
	echo "vmbh-init: the agent did not open $AGENT_DEV" >>$RUN/agent.log
}

# No command substitution in what the idle loop runs: under TCG a fork costs
# milliseconds, and a loop forking a few times per pass kept an idle guest ~20%
# busy (which slowed every other guest on the machine).
alive() { [ -r "$1" ] && read -r pid <"$1" && kill -0 "$pid" 2>/dev/null; }

# vmbh.omit=SERVICE[,SERVICE] on the kernel command line: never start these
# daemons (the conformance suite's self-test boots such variants).
OMIT=" $(sed -n 's/.*vmbh\.omit=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ') "

watch_daemons() {  # one pass over $DAEMONS: "NODE SERVICE ARGV..." (no quoting in ARGV)
	while read -r node service argv; do
		case "$OMIT" in *" $service "*) continue ;; esac
		pidf=$RUN/$service.pid
		if [ -e "$node" ]; then
			if [ -e "$pidf" ]; then
				alive "$pidf" && continue
				# Dead. Like the packaged units (no Restart=), a daemon stays
				# dead on the same device, but a new device node (removed and
				# created again between two passes: rescind + re-offer) starts
				# it, as systemd does on the device's add event.
				[ "$(stat -c %i "$node")" = "$(cat "$RUN/$service.node" 2>/dev/null)" ] && continue
			fi
			$argv </dev/null >>"$RUN/$service.log" 2>&1 3<&- &
			echo $! >"$pidf"
			stat -c %i "$node" >"$RUN/$service.node"
		elif [ -e "$pidf" ]; then
			read -r pid <"$pidf" && kill "$pid" 2>/dev/null
			rm -f "$pidf" "$RUN/$service.node"
		fi
	done <"$DAEMONS"
}

load_modules /etc/vmbh/modules.early
trace early modules loaded
AGENT_DEV=$(agent_port)
echo "$AGENT_DEV" >$RUN/agent.port
start_agent
trace agent started on $AGENT_DEV
if modprobe hv_vmbus >>$RUN/modules.log 2>&1; then
	load_modules /etc/vmbh/modules.vmbus
else
	echo "hv_vmbus did not load (no VMBus?): skipped the VMBus drivers" >>$RUN/modules.log
fi
trace vmbus modules done
load_modules /etc/vmbh/modules.other
trace modules loaded
for d in $(cat /etc/vmbh/state-dirs); do mkdir -p "$d"; done
watch_daemons
wait_agent_open
trace agent has its port open
echo "VMBH-READY $(uname -r)"
( load_modules /etc/vmbh/modules.late; touch $RUN/modules.done; trace late modules loaded
  echo "VMBH-MODULES-DONE" ) &

# The pause between passes: a read that times out on a FIFO nobody writes
# (busybox's sleep is a process of its own).
mkfifo $RUN/tick
exec 3<>$RUN/tick
while :; do
	read -t 0.2 _ <&3
	watch_daemons
	alive $RUN/agent.pid || { echo "vmbh-init: agent exited, restarting" >>$RUN/agent.log; start_agent; }
done
