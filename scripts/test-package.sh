#!/usr/bin/env bash
# Builds the Debian package of timmd with cpack, checks its control data and contents, and
# installs it. The installed daemon then runs against the test Hub on 127.0.0.1 twice: as the
# timmd user with the installed configuration and a Hub token, and under socket activation
# (systemd-socket-activate, which needs no systemd as PID 1). Last it removes and purges the
# package.
#
# Usage: scripts/test-package.sh BUILD_DIR
#   BUILD_DIR: a Release or RelWithDebInfo tree configured with -DCMAKE_INSTALL_PREFIX=/usr and
#   -DTIMMD_BUILD_TESTS=ON. A BUILD_DIR that does not exist yet is configured so, with Ninja.
#   The script builds timmd, timmctl and timmd-testhub there (nothing to do when they are
#   current) and writes the package to BUILD_DIR/package.
# Runs as root, because it installs the package on this machine; it purges the package again at
# the end, also after a failure. TIMMD_JOBS sets the build parallelism (default 2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
unit_dir=/lib/systemd/system
demo_repo=timm/test_vit.r160_in1k
token_marker="timmd-test-package-token"

fail() {
  echo "test-package: FAILED: $*" >&2
  exit 1
}
step() { echo "== $*"; }

[[ $# -eq 1 ]] || {
  echo "usage: scripts/test-package.sh BUILD_DIR" >&2
  exit 2
}
[[ $(id -u) -eq 0 ]] || fail "run as root: the test installs and removes the timmd package"
if [[ ! -e $1 ]]; then
  echo "== configuring a new build tree $1 (RelWithDebInfo, prefix /usr)"
  cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DTIMMD_BUILD_TESTS=ON >/dev/null
fi
build_dir=$(cd "$1" && pwd)
[[ -f $build_dir/CMakeCache.txt ]] || fail "$build_dir is not a CMake build tree (no CMakeCache.txt)"

for tool in cpack dpkg-deb dpkg-shlibdeps systemd-analyze systemd-socket-activate setpriv man file curl; do
  command -v "$tool" >/dev/null || fail "$tool not found; run packaging/install-deps.sh"
done

cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt"; }
build_type=$(cache_value CMAKE_BUILD_TYPE)
[[ $build_type == Release || $build_type == RelWithDebInfo ]] ||
  fail "$build_dir has CMAKE_BUILD_TYPE '$build_type'; package a Release or RelWithDebInfo build"
[[ $(cache_value CMAKE_INSTALL_PREFIX) == /usr ]] ||
  fail "$build_dir has CMAKE_INSTALL_PREFIX '$(cache_value CMAKE_INSTALL_PREFIX)'; configure it with" \
    "-DCMAKE_INSTALL_PREFIX=/usr, because timmd looks for its registry under that prefix"

work=$(mktemp -d /tmp/timmd-package.XXXXXX)
# The timmd user must reach the cache and socket directories below.
chmod 0755 "$work"
pids=()
token_created=0

# Stops every process this script started, purges the package if it is still installed, and
# removes the test token and the work directory.
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if package_present; then
    dpkg --purge timmd >/dev/null 2>&1 || echo "test-package: warning: dpkg --purge timmd failed; run it by hand" >&2
  fi
  if [[ $token_created == 1 ]] && [[ $(head -n 1 /etc/timmd/token 2>/dev/null) == "$token_marker" ]]; then
    rm -f /etc/timmd/token
    rmdir /etc/timmd 2>/dev/null || true
  fi
  if [[ $status -ne 0 ]]; then
    for log in "$work"/*.log; do
      [[ -s $log ]] || continue
      echo "--- $log (last 20 lines)" >&2
      tail -n 20 "$log" >&2
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Waits up to 10 s for a command to succeed.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 100); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "timed out after 10 s waiting for $what"
}

# Waits up to 20 s for process $1 to exit and returns its exit status.
wait_exit() {
  local pid=$1
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "process $pid did not exit within 20 s of SIGTERM"
  local status=0
  wait "$pid" || status=$?
  return "$status"
}

# Drops a process that has been waited for from the list that cleanup kills.
forget_pid() {
  local kept=() pid
  for pid in "${pids[@]}"; do
    [[ $pid == "$1" ]] || kept+=("$pid")
  done
  pids=("${kept[@]}")
}

# Succeeds when dpkg has the timmd package installed, half installed or with config files left.
package_present() {
  local state
  state=$(dpkg-query -W -f '${db:Status-Status}' timmd 2>/dev/null) || return 1
  [[ -n $state && $state != not-installed ]]
}

expect_file() { [[ -e $1 ]] || fail "$1 is missing"; }
expect_gone() { [[ ! -e $1 && ! -L $1 ]] || fail "$1 is still there"; }

if package_present; then
  step "purging the timmd package left by an earlier run"
  dpkg --purge timmd >/dev/null
fi

step "building timmd, timmctl and timmd-testhub in $build_dir"
# Re-running the configure step writes CPackConfig.cmake in a tree configured before packaging
# was added. The cached options stay as they are.
cmake "$build_dir" >/dev/null
cmake --build "$build_dir" -j "${TIMMD_JOBS:-2}" --target timmd timmctl timmd-testhub

step "cpack -G DEB"
rm -f "$build_dir"/package/timmd_*.deb
if ! (cd "$build_dir" && cpack -G DEB -B "$build_dir/package") >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log" >&2
  fail "cpack -G DEB failed"
fi
shopt -s nullglob
debs=("$build_dir"/package/timmd_*.deb)
shopt -u nullglob
[[ ${#debs[@]} -eq 1 ]] || fail "expected one timmd_*.deb in $build_dir/package, found ${#debs[@]}"
deb=${debs[0]}
echo "   $deb"

step "dpkg-deb -I: control fields and maintainer scripts"
dpkg-deb -I "$deb" >"$work/info.txt"
sed 's/^/   /' "$work/info.txt"
depends=$(dpkg-deb -f "$deb" Depends)
[[ -n $depends ]] || fail "the Depends field is empty (is dpkg-shlibdeps installed?)"
for library in libcurl libsqlite3 libsystemd0 adduser; do
  grep -q "$library" <<<"$depends" || fail "Depends does not list $library: $depends"
done
[[ $(dpkg-deb -f "$deb" Package) == timmd ]] || fail "the package is not named timmd"
[[ $(dpkg-deb -f "$deb" Section) == utils ]] || fail "the section is not utils"
[[ $(dpkg-deb -f "$deb" Version) == "$(cache_value CMAKE_PROJECT_VERSION)" ]] ||
  fail "the version is not the project's $(cache_value CMAKE_PROJECT_VERSION)"
dpkg-deb --ctrl-tarfile "$deb" | tar -tvf - >"$work/control.txt"
for script in postinst prerm postrm; do
  grep -q -- "-rwxr-xr-x .* ./$script\$" "$work/control.txt" || fail "the control archive has no executable $script"
done
[[ $(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles) == /etc/timmd/timmd.json ]] ||
  fail "conffiles does not list exactly /etc/timmd/timmd.json"

step "dpkg-deb -c: files"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$work/contents.txt"
for path in ./usr/sbin/timmd ./usr/bin/timmctl ".$unit_dir/timmd.service" ".$unit_dir/timmd.socket" \
  ./usr/lib/sysusers.d/timmd.conf ./usr/lib/tmpfiles.d/timmd.conf ./etc/timmd/timmd.json \
  ./usr/share/man/man8/timmd.8.gz ./usr/share/man/man1/timmctl.1.gz \
  ./usr/share/timmd/registry/timm-registry.json ./usr/share/timmd/remap/vit.json; do
  grep -q " ${path//./\\.}\$" "$work/contents.txt" || fail "the package has no $path"
done
grep -q '^-rwxr-xr-x root/root ./usr/sbin/timmd$' "$work/contents.txt" || fail "/usr/sbin/timmd is not 0755 root:root"
grep -q '^-rw-r--r-- root/root ./etc/timmd/timmd.json$' "$work/contents.txt" ||
  fail "/etc/timmd/timmd.json is not 0644 root:root"
echo "   $(wc -l <"$work/contents.txt") entries"

step "placing a test Hub token in /etc/timmd/token before installing"
# A real token must not end up on the test Hub's command line, so only the marker is used.
if [[ -e /etc/timmd/token && $(head -n 1 /etc/timmd/token) != "$token_marker" ]]; then
  fail "/etc/timmd/token exists and is not this test's; move it away while the test runs"
fi
install -d -m 0755 /etc/timmd
(umask 022 && echo "$token_marker" >/etc/timmd/token)
token_created=1
hub_token=$token_marker

step "dpkg -i"
dpkg -i "$deb" >"$work/dpkg-install.log" 2>&1 || fail "dpkg -i failed: $(cat "$work/dpkg-install.log")"
IFS=: read -r _ _ _ _ _ home shell < <(getent passwd timmd) || fail "no timmd user after installing"
[[ $home == /var/cache/timmd ]] || fail "the timmd user's home is $home, not /var/cache/timmd"
[[ $shell == */nologin ]] || fail "the timmd user's shell is $shell, not nologin"
getent group timmd >/dev/null || fail "no timmd group after installing"
[[ $(stat -c '%U:%G %a' /etc/timmd/token) == "timmd:timmd 600" ]] ||
  fail "/etc/timmd/token is $(stat -c '%U:%G %a' /etc/timmd/token), expected timmd:timmd 600"
[[ $(stat -c '%U:%G %a' /var/cache/timmd) == "timmd:timmd 755" ]] ||
  fail "/var/cache/timmd is $(stat -c '%U:%G %a' /var/cache/timmd), expected timmd:timmd 755"
[[ -L /etc/systemd/system/sockets.target.wants/timmd.socket ]] ||
  fail "timmd.socket is not enabled (no link in /etc/systemd/system/sockets.target.wants)"
for path in /usr/share/man/man8/timmd.8.gz /usr/share/man/man1/timmctl.1.gz; do
  expect_file "$path"
done
[[ $(man -w timmd) == /usr/share/man/man8/timmd.8.gz ]] || fail "man -w timmd does not find the installed page"
file /usr/sbin/timmd | grep -q ', stripped' || fail "/usr/sbin/timmd is not stripped"
echo "   user timmd (home $home), token timmd:timmd 600, timmd.socket enabled"

step "systemd-analyze verify on the installed units"
if ! systemd-analyze verify "$unit_dir/timmd.socket" "$unit_dir/timmd.service" >"$work/verify.log" 2>&1; then
  fail "systemd-analyze verify failed: $(cat "$work/verify.log")"
fi
if grep -q 'timmd' "$work/verify.log"; then
  fail "systemd-analyze verify reported problems: $(cat "$work/verify.log")"
fi
systemd-analyze security --offline=yes "$unit_dir/timmd.service" 2>/dev/null | grep 'Overall exposure' |
  sed 's/^/   /' || true

step "starting the test Hub on 127.0.0.1 with the demo repository gated (files only with the token)"
cp -r "$root/tests/data/timm/demo-repo" "$work/repos"
mkdir -p "$work/repos/$demo_repo/.hub"
echo '{"gated": true}' >"$work/repos/$demo_repo/.hub/config.json"
"$build_dir/tests/hubserver/timmd-testhub" --repos "$work/repos" --token "$hub_token" \
  --ready-file "$work/hub.json" >/dev/null 2>"$work/hub.log" &
pids+=($!)
wait_for "the test Hub's ready file" test -s "$work/hub.json"
endpoint=$(sed -n 's/.*"api": *"\([^"]*\)".*/\1/p' "$work/hub.json")
[[ $endpoint == http://127.0.0.1:* ]] || fail "unexpected Hub endpoint '$endpoint'"
http_status=$(curl -s -o /dev/null -w '%{http_code}' "$endpoint/$demo_repo/resolve/main/config.json") || true
[[ $http_status == 401 ]] ||
  fail "the test Hub answered $http_status to a file request without the token, expected 401"
echo "   $endpoint (401 for a file without the token)"

step "installed timmd as the timmd user, with /etc/timmd/timmd.json and token_file set"
# The administrator's step from timmd(8): name the token file in the configuration.
sed 's|"token_file": ""|"token_file": "/etc/timmd/token"|' /etc/timmd/timmd.json >"$work/timmd.json"
grep -q '"token_file": "/etc/timmd/token"' "$work/timmd.json" || fail "cannot set token_file in a copy of the configuration"
install -d -o timmd -g timmd -m 0755 "$work/cache" "$work/run"
socket=$work/run/timmd.sock
setpriv --reuid=timmd --regid=timmd --init-groups --no-new-privs --bounding-set=-all --inh-caps=-all \
  /usr/sbin/timmd --config "$work/timmd.json" --cache-dir "$work/cache" --socket "$socket" --endpoint "$endpoint" \
  2>"$work/timmd.log" &
daemon_pid=$!
pids+=("$daemon_pid")
wait_for "timmd to listen on $socket" /usr/bin/timmctl --socket "$socket" status

grep -q 'token from token_file' "$work/timmd.log" || fail "timmd did not read the token from /etc/timmd/token"
grep -q 'registry loaded: .*(/usr/share/timmd/registry)' "$work/timmd.log" ||
  fail "timmd did not load the installed registry /usr/share/timmd/registry"
grep -q 'remap rules loaded: .* from /usr/share/timmd/remap' "$work/timmd.log" ||
  fail "timmd did not load the installed remap rules /usr/share/timmd/remap"
[[ $(stat -c '%U:%G %a' "$socket") == "timmd:timmd 660" ]] ||
  fail "the socket is $(stat -c '%U:%G %a' "$socket"), expected timmd:timmd 660"
if setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/timmctl --socket "$socket" status \
  >/dev/null 2>"$work/nobody.err"; then
  fail "a user outside the timmd group could use the socket"
fi
grep -q 'permission_denied: .*add you to it' "$work/nobody.err" || fail "unexpected error for a user outside the group: $(cat "$work/nobody.err")"

/usr/bin/timmctl --socket "$socket" pull "$demo_repo" >"$work/pull.txt" || fail "timmctl pull failed"
sed 's/^/   /' "$work/pull.txt"
blob=$(sed -n 's/^  blob *//p' "$work/pull.txt" | tail -n 1)
[[ -f $blob ]] || fail "the blob path '$blob' that pull printed is not a file"
[[ $(stat -c '%U %a' "$blob") == "timmd 444" ]] || fail "the blob is $(stat -c '%U %a' "$blob"), expected timmd 444"
setpriv --reuid=nobody --regid=nogroup --clear-groups head -c 1 "$blob" >/dev/null ||
  fail "another user cannot read the blob that pull printed"

/usr/bin/timmctl --socket "$socket" open test_vit.r160_in1k --num-classes 10 >"$work/open.txt" ||
  fail "timmctl open failed"
sed 's/^/   /' "$work/open.txt" | head -n 12
grep -q 'dropped classifier head' "$work/open.txt" || fail "open --num-classes 10 did not drop the classifier"
grep -q 'head.weight' "$work/open.txt" && fail "open --num-classes 10 still serves the pretrained head.weight"
grep -q 'pos_embed' "$work/open.txt" || fail "open served no pos_embed tensor"

kill -HUP "$daemon_pid"
wait_for "the SIGHUP reload in the log" grep -q 'remap rules reloaded (SIGHUP)' "$work/timmd.log"
grep -q 'SIGHUP: registry reloaded' "$work/timmd.log" || fail "SIGHUP did not reload the registry"
/usr/bin/timmctl --socket "$socket" status >/dev/null || fail "timmd stopped answering after SIGHUP"
kill -TERM "$daemon_pid"
started=$SECONDS
status=0
wait_exit "$daemon_pid" || status=$?
forget_pid "$daemon_pid"
[[ $status -eq 0 ]] || fail "timmd exited with status $status after SIGTERM"
if grep -qF "$token_marker" "$work/timmd.log"; then
  fail "the Hub token appears in the daemon's log $work/timmd.log"
fi
expect_gone "$socket"
echo "   SIGHUP reloaded; SIGTERM stopped timmd in $((SECONDS - started)) s with status 0"

step "socket activation: systemd-socket-activate -l SOCKET /usr/sbin/timmd"
install -d -o timmd -g timmd -m 0755 "$work/cache-activated" "$work/activated"
activated_socket=$work/activated/timmd.sock
# systemd-socket-activate creates the socket as root, as timmd.socket does. On the first
# connection it execs setpriv in the same process, which drops to the timmd user and execs timmd.
systemd-socket-activate -l "$activated_socket" \
  setpriv --reuid=timmd --regid=timmd --init-groups --no-new-privs \
  /usr/sbin/timmd --config "$work/timmd.json" --cache-dir "$work/cache-activated" --endpoint "$endpoint" \
  2>"$work/timmd-activated.log" &
activator_pid=$!
pids+=("$activator_pid")
wait_for "systemd-socket-activate to listen on $activated_socket" test -S "$activated_socket"
/usr/bin/timmctl --socket "$activated_socket" --json status >"$work/status.json" ||
  fail "timmctl status through the activated socket failed"
grep -q '"socket_activated": true' "$work/status.json" ||
  fail "timmd does not report socket_activated true: $(cat "$work/status.json")"
grep -q "\"socket\": \"$activated_socket\"" "$work/status.json" ||
  fail "timmd reports another socket than $activated_socket: $(cat "$work/status.json")"
grep -q 'listening on .*(socket activation)' "$work/timmd-activated.log" ||
  fail "timmd did not log that it adopted the passed socket"
/usr/bin/timmctl --socket "$activated_socket" pull "$demo_repo" >/dev/null ||
  fail "timmctl pull through the activated socket failed"
/usr/bin/timmctl --socket "$activated_socket" open test_vit.r160_in1k --num-classes 10 >/dev/null ||
  fail "timmctl open through the activated socket failed"
echo "   socket_activated: true; pull and open answered"
kill -TERM "$activator_pid"
status=0
wait_exit "$activator_pid" || status=$?
forget_pid "$activator_pid"
[[ $status -eq 0 ]] || fail "the socket-activated timmd exited with status $status after SIGTERM"

step "dpkg -r timmd"
dpkg -r timmd >"$work/dpkg-remove.log" 2>&1 || fail "dpkg -r failed: $(cat "$work/dpkg-remove.log")"
for path in /usr/sbin/timmd /usr/bin/timmctl "$unit_dir/timmd.service" "$unit_dir/timmd.socket" \
  /usr/lib/sysusers.d/timmd.conf /usr/share/timmd /usr/share/man/man8/timmd.8.gz; do
  expect_gone "$path"
done
expect_file /etc/timmd/timmd.json # a conffile stays until purge

step "dpkg --purge timmd"
dpkg --purge timmd >"$work/dpkg-purge.log" 2>&1 || fail "dpkg --purge failed: $(cat "$work/dpkg-purge.log")"
if package_present; then
  fail "dpkg still lists the timmd package after purge: $(dpkg-query -W -f '${Status}' timmd)"
fi
for path in /etc/timmd/timmd.json /var/cache/timmd /run/timmd /etc/systemd/system/timmd.socket \
  /etc/systemd/system/timmd.service /etc/systemd/system/sockets.target.wants/timmd.socket; do
  expect_gone "$path"
done
getent passwd timmd >/dev/null || fail "purge removed the timmd user, which must stay"
echo "   removed and purged; the timmd user and group stay, as Debian keeps system users"

echo "test-package: all checks passed"
