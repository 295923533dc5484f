#!/bin/sh
# Stand-in for vmbh-agent, for the builder's own boot tests until the real agent
# lands: a line protocol on the agent port. "ping" -> "pong",
# "uname" -> "uname: `uname -r`", anything else -> "error: unknown request".
[ "$1" = --device ] || { echo "usage: $0 --device DEV" >&2; exit 2; }
exec 0<>"$2" 1>&0
[ -t 0 ] && stty raw -echo  # a serial tty (the ttyS1 fallback): no echo, no CR/LF games
while read -r req; do
	case "$req" in
	ping) echo pong ;;
	uname) echo "uname: $(uname -r)" ;;
	*) echo "error: unknown request" ;;
	esac
done
