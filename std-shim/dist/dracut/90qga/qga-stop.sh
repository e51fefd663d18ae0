#!/bin/sh
# dracut cleanup hook: stops the initramfs' qga before switch_root, so the
# system's own agent can open the port (it can be open only once).
pidfile=/run/qga-initramfs/qga.pid
[ -r "$pidfile" ] || return 0
read -r pid <"$pidfile" || return 0
kill -TERM "$pid" 2>/dev/null || return 0
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 5 ]; do
    sleep 1
    i=$((i + 1))
done
kill -KILL "$pid" 2>/dev/null
# The log stays in /run/qga-initramfs/qga.log.
rm -f "$pidfile"
