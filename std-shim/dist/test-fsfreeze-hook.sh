#!/bin/sh
# Checks std-shim/dist/fsfreeze-hook: order, skipped names, names with spaces,
# rollback after a failed freeze, thaw failures. Prints "ok" last.
set -eu
hook=$(cd "$(dirname "$0")" && pwd)/fsfreeze-hook
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$hook" "$tmp/fsfreeze-hook"
d=$tmp/fsfreeze-hook.d
mkdir "$d"
# Each script appends "<name> <action>" to the record; "fail-on" names fail.
for name in "10 db" 20-app 30-web 40.bak 50.dpkg-old 60.sample 70~; do
    printf '#!/bin/sh\necho "%s $1" >>"%s/record"\n[ "$1" != "$(cat "%s" 2>/dev/null)" ]\n' \
        "$name" "$tmp" "$tmp/fail-$name" >"$d/$name"
    chmod +x "$d/$name"
done
printf '#!/bin/sh\nexit 0\n' >"$d/80-not-executable"
export PATH=/nonexistent-no-logger:$PATH
expect() {
    got=$(cat "$tmp/record"); rm -f "$tmp/record"
    [ "$got" = "$1" ] || { printf 'expected:\n%s\ngot:\n%s\n' "$1" "$got" >&2; exit 1; }
}
"$tmp/fsfreeze-hook" freeze
expect "10 db freeze
20-app freeze
30-web freeze"
"$tmp/fsfreeze-hook" thaw
expect "30-web thaw
20-app thaw
10 db thaw"
# 30-web fails to freeze: the two before it are thawed again, the hook fails.
echo freeze >"$tmp/fail-30-web"
if "$tmp/fsfreeze-hook" freeze; then echo "a failed freeze script must fail the hook" >&2; exit 1; fi
expect "10 db freeze
20-app freeze
30-web freeze
20-app thaw
10 db thaw"
rm "$tmp/fail-30-web"
# 20-app fails to thaw: the others still run, the hook fails.
echo thaw >"$tmp/fail-20-app"
if "$tmp/fsfreeze-hook" thaw; then echo "a failed thaw script must fail the hook" >&2; exit 1; fi
expect "30-web thaw
20-app thaw
10 db thaw"
if "$tmp/fsfreeze-hook" bogus 2>/dev/null; then echo "bad argument accepted" >&2; exit 1; fi
echo ok
