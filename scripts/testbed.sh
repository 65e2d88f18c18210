#!/usr/bin/env bash
# The offline test bed: a Docker engine with no bridge, systemd images with PostgreSQL built
# from Debian's packages (no registry), and a local package repository per suite holding the
# packages our roles install (pgaudit, python3-psycopg), served to containers as a file: source.
#
#   scripts/testbed.sh engine        install and start dockerd when it is not running
#   scripts/testbed.sh images [...]  build the images (default: every suite in SUITES) and repos
#   scripts/testbed.sh run NAME SUITE MAJOR [REPO]
#                                    start a systemd container NAME from the SUITE/MAJOR image
#                                    (no network, the suite's package repository or REPO mounted
#                                    at /srv/pgtrail-repo) and wait until PostgreSQL answers
#   scripts/testbed.sh clean [RUN ...]
#                                    remove the containers of this run (PGTRAIL_RUN, which
#                                    scripts/test sets) or of the runs named; never another's
#
# Every container carries the label pgtrail.testbed=<kind> (PGTRAIL_LABEL: integration,
# molecule, bench, demo) and, when PGTRAIL_RUN is set, pgtrail.run=<run>: what clean removes.
#
# Images are tagged pgtrail-testbed:<suite>-pg<major> and rebuilt only when this recipe changes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/common.sh
. "$here/common.sh"

# suite:major, in the order a fleet lists them. forky is best effort: it is Debian testing.
SUITES=${PGTRAIL_SUITES:-"bookworm:15 trixie:17 forky:18"}
REQUIRED_SUITES=${PGTRAIL_REQUIRED_SUITES:-"bookworm trixie"}

ensure_engine() {
  ensure_packages dockerd:docker.io debootstrap:debootstrap dpkg-scanpackages:dpkg-dev
  # Every container's systemd takes inotify instances from root's shared allowance (128 by
  # default); about 20 containers exhaust it and the next one's systemd never comes up.
  if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 1024)" -lt 1024 ]; then
    sysctl -q -w fs.inotify.max_user_instances=1024 || info "could not raise fs.inotify.max_user_instances"
  fi
  if docker info >/dev/null 2>&1; then return 0; fi
  step "starting dockerd (no bridge, no iptables: containers get --network none)"
  mkdir -p "$PGTRAIL_CACHE"
  setsid dockerd --bridge=none --iptables=false --ip6tables=false \
    >"$PGTRAIL_CACHE/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -n 20 "$PGTRAIL_CACHE/dockerd.log" >&2
  die "dockerd did not answer within 60 s (log: $PGTRAIL_CACHE/dockerd.log)"
}

# The Debian mirror this machine's own apt sources name; never written into the project.
host_mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *https?://[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +https?://[^ ]+/debian/? ' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
  echo "${uri:-http://deb.debian.org/debian}"
}

image_current() {
  local tag=$1
  [ "$(docker image inspect -f '{{index .Config.Labels "pgtrail.recipe"}}' "$tag" 2>/dev/null)" = "$(recipe)" ]
}

# Packages a host typically has before our roles run. pgaudit and psycopg are NOT here: the
# roles install them from the local repository.
base_packages() {
  local major=$1
  echo "systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,locales,procps,postgresql-$major,postgresql-client-$major"
}

# Packages the roles install, downloaded once into <cache>/repo/<suite> and indexed; sudo and
# acl are there for tests that connect as a non-root user with sudo (with and without acl).
repo_packages() {
  local major=$1 extra=""
  # set_user (CIS 4.8), where Debian packages it: bookworm (15) and trixie (17).
  case $major in 15 | 17) extra=" postgresql-$major-set-user" ;; esac
  echo "postgresql-$major-pgaudit python3-psycopg sudo acl$extra"
}

# debootstrap mounts /proc and /sys in the rootfs and may leave them mounted when it fails:
# unmount before deleting, never delete through a mount.
remove_rootfs() {
  local root=$1
  [ -e "$root" ] || return 0
  awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | while read -r mnt; do
    umount -l "$mnt" || die "cannot unmount $mnt; remove $root by hand"
  done
  rm -rf --one-file-system "$root"
}

build_image() {
  local suite=$1 major=$2
  local tag="pgtrail-testbed:$suite-pg$major"
  local repo="$PGTRAIL_CACHE/repo/$suite"
  if image_current "$tag" && [ -f "$repo/Packages" ]; then
    step "image $tag is current (recipe $(recipe)): reused"
    return 0
  fi
  local root="$PGTRAIL_CACHE/rootfs/$suite"
  local mirror script=""
  mirror=$(host_mirror)
  # debootstrap on bookworm knows trixie; a newer suite is built with the sid script.
  [ -e "/usr/share/debootstrap/scripts/$suite" ] || script=/usr/share/debootstrap/scripts/sid
  remove_rootfs "$root"
  mkdir -p "$root"
  step "debootstrap $suite with PostgreSQL $major from $mirror (about a minute)"
  local t0=$SECONDS
  # shellcheck disable=SC2086
  if ! debootstrap --variant=minbase --include="$(base_packages "$major")" \
      "$suite" "$root" "$mirror" $script >"$root.log" 2>&1; then
    tail -n 20 "$root.log" >&2
    remove_rootfs "$root"
    return 1
  fi
  info "debootstrap done in $((SECONDS - t0)) s"

  step "downloading $(repo_packages "$major") into the local repository for $suite"
  rm -rf "$repo"
  mkdir -p "$repo" "$root/var/cache/pgtrail-download"
  # shellcheck disable=SC2046
  chroot "$root" apt-get install -y -qq --download-only --no-install-recommends \
    -o Dir::Cache::archives=/var/cache/pgtrail-download $(repo_packages "$major") >/dev/null
  mv "$root"/var/cache/pgtrail-download/*.deb "$repo/"
  (cd "$repo" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
  info "$(find "$repo" -name '*.deb' | wc -l) packages in $repo"

  # The container has no network: apt sees only the local repository, mounted at
  # /srv/pgtrail-repo. Its index is read once here, so the image has package lists like a
  # real host (and --check runs can look packages up).
  rm -rf "$root/var/cache/pgtrail-download" "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  rm -f "$root"/etc/apt/sources.list.d/*
  echo "deb [trusted=yes] file:/srv/pgtrail-repo ./" >"$root/etc/apt/sources.list"
  mkdir -p "$root/srv/pgtrail-repo"
  cp "$repo/Packages" "$root/srv/pgtrail-repo/"
  chroot "$root" apt-get update -qq >/dev/null
  rm -f "$root/srv/pgtrail-repo/Packages"
  echo "pgtrail-$suite" >"$root/etc/hostname"
  # Units that only fail or wait in a container.
  for unit in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done

  step "importing $tag"
  tar -C "$root" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c "LABEL pgtrail.recipe=$(recipe)" \
    -c "LABEL pgtrail.pg_major=$major" -c "LABEL pgtrail.suite=$suite" \
    - "$tag" >/dev/null
  remove_rootfs "$root"
  info "built $tag in $((SECONDS - t0)) s"
}

# What shapes an image; images carry its hash and are rebuilt only when it changes.
recipe() { declare -f base_packages repo_packages build_image | sha256sum | cut -c1-12; }

build_images() {
  local want=("$@") entry suite major built=()
  [ ${#want[@]} -gt 0 ] || read -r -a want <<<"$SUITES"
  for entry in "${want[@]}"; do
    suite=${entry%%:*}
    major=${entry##*:}
    if build_image "$suite" "$major"; then
      built+=("$suite")
    elif [[ " $REQUIRED_SUITES " == *" $suite "* ]]; then
      die "could not build the $suite image (log: $PGTRAIL_CACHE/rootfs/$suite.log)"
    else
      warn "could not build the optional $suite image; continuing without PostgreSQL $major"
    fi
  done
}

# Only the containers of the runs named (default: this run, PGTRAIL_RUN): a concurrent run's
# containers and a demo fleet carry other run labels and stay.
clean_containers() {
  local runs=("$@") run ids
  [ ${#runs[@]} -gt 0 ] || runs=(${PGTRAIL_RUN:+"$PGTRAIL_RUN"})
  if [ ${#runs[@]} -eq 0 ]; then
    echo "which run? set PGTRAIL_RUN or name the runs; test-bed runs with containers here:" >&2
    docker ps -a --filter label=pgtrail.run --format '{{.Label "pgtrail.run"}}' | sort | uniq -c >&2
    exit 2
  fi
  for run in "${runs[@]}"; do
    ids=$(docker ps -aq --filter "label=pgtrail.run=$run")
    if [ -n "$ids" ]; then
      step "removing $(echo "$ids" | wc -l) container(s) of run $run"
      # shellcheck disable=SC2086
      docker rm -f $ids >/dev/null
    fi
  done
}

# The one place that knows how a test-bed container is started (tests, molecule and the demo
# all come here): systemd as PID 1 without --privileged, as docs/test-bed notes.
run_container() {
  local name=$1 suite=$2 major=$3 repo=${4:-$PGTRAIL_CACHE/repo/$2}
  local tag="pgtrail-testbed:$suite-pg$major" state="" _
  local cgroup=() init=() extra=()
  # PGTRAIL_DOCKER_ARGS: more docker run arguments, e.g. a shared volume for replication tests.
  read -r -a extra <<<"${PGTRAIL_DOCKER_ARGS:-}"
  docker image inspect "$tag" >/dev/null 2>&1 || die "image $tag is missing: run scripts/testbed.sh images"
  docker rm -f "$name" >/dev/null 2>&1 || true
  if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] && [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
    # A hybrid cgroup host: systemd 258 and later (forky) refuse cgroup v1, so every container
    # gets the host's cgroup2 hierarchy and starts systemd in a cgroup of its own there.
    cgroup=(-v /sys/fs/cgroup/unified:/sys/fs/cgroup:rw --entrypoint /bin/sh)
    init=(-c "mkdir -p /sys/fs/cgroup/pgtrail/$name && echo \$\$ > /sys/fs/cgroup/pgtrail/$name/cgroup.procs && exec /lib/systemd/systemd")
  else
    cgroup=(-v /sys/fs/cgroup:/sys/fs/cgroup:rw)
  fi
  local run_label=()
  [ -z "${PGTRAIL_RUN:-}" ] || run_label=(--label "pgtrail.run=$PGTRAIL_RUN")
  docker run -d --name "$name" --hostname "$name" --label pgtrail.testbed="${PGTRAIL_LABEL:-run}" "${run_label[@]}" \
    --network none --cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
    "${cgroup[@]}" --tmpfs /run --tmpfs /run/lock "${extra[@]}" \
    -v "$repo:/srv/pgtrail-repo:ro" "$tag" "${init[@]}" >/dev/null
  for _ in $(seq 60); do
    # Right after start the bus is not up yet and systemctl answers nothing.
    state=$(docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
    [ "$state" = running ] || [ "$state" = degraded ] && break
    sleep 1
  done
  [ "$state" = running ] || [ "$state" = degraded ] || die "systemd in $name did not come up ($state)"
  for _ in $(seq 60); do
    docker exec "$name" pg_isready -q && return 0
    sleep 1
  done
  die "PostgreSQL $major in $name did not accept connections within 60 s"
}

# Empty cgroups that removed containers left in the host's cgroup2 hierarchy.
clean_cgroups() {
  local dir=/sys/fs/cgroup/unified/pgtrail cg
  [ -d "$dir" ] || return 0
  for cg in "$dir"/*/; do
    [ -d "$cg" ] || continue
    docker inspect "$(basename "$cg")" >/dev/null 2>&1 && continue
    find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

case "${1:-}" in
  engine) ensure_engine ;;
  images) shift; ensure_engine; build_images "$@" ;;
  run) shift; [ $# -ge 3 ] || die "usage: $0 run NAME SUITE MAJOR [REPO]"; run_container "$@" ;;
  clean) shift; ensure_engine; clean_containers "$@"; clean_cgroups ;;
  *) echo "usage: $0 engine | images [suite:major ...] | run NAME SUITE MAJOR [REPO] | clean [RUN ...]" >&2; exit 2 ;;
esac
