#!/usr/bin/env bash
# kafka-chaos on a fresh machine: installs what is missing, then runs experiments or the tests.
#
#   ./run.sh run [ARGS]    kafka-chaos run ARGS (default: the leader-kill experiment)
#   ./run.sh test [ARGS]   the test suite (pytest ARGS): CI's selection, without slow and docker tests
#   ./run.sh test --full [ARGS]   every test, slow and docker ones too
#
# Installs, only when missing: iproute2, iptables, fuse3, libfaketime, a Java 17 JDK (javac builds the Streams worker), Maven and PostgreSQL
# (and for the tests Chromium and openssh-server) from Debian packages (needs root), a Python virtual
# environment in .venv with the project and its test tools.
# Kafka itself comes from Maven Central on first use (or from KAFKA_HOME).
#
# Docker, for `test --full` (or KAFKA_CHAOS_DOCKER=1) and for `run --backend docker` or `--attach`:
# docker.io, docker-compose and debootstrap from Debian; and when no Docker daemon answers, one is
# started for the length of this script (its bridge and networks in 198.19.0.0/16, no iptables
# rules of its own, the overlay2 storage driver where the kernel has overlayfs, else vfs) and
# stopped at the end. A daemon this script did not start is never stopped. The docker tests build
# the Kafka image themselves (`kafka-chaos image build`: debootstrap, no registry) on first use.
set -euo pipefail
cd "$(dirname "$0")"

install() {  # Debian packages, only when missing
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
  else
    echo "missing: $* (install them, or run as root on Debian/Ubuntu)" >&2
    exit 3
  fi
}

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v javac >/dev/null || [ -n "${JAVA_HOME:-}" ] || missing+=(openjdk-17-jdk-headless)  # javac: the Streams worker is built here
command -v mvn >/dev/null || missing+=(maven)
# power-loss: each node's data directory on FUSE (lazyfs); clock-skew: libfaketime in the JVMs.
command -v fusermount3 >/dev/null || missing+=(fuse3)
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing+=(libfaketime)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
# Sink experiments write into a PostgreSQL server of the run's own (Debian keeps it off PATH).
command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# The report tests render pages in headless Chromium; the ssh backend's tests run an sshd per host.
[ "${1:-}" != test ] || command -v chromium >/dev/null || missing+=(chromium)
[ "${1:-}" != test ] || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ "${1:-}" != test ] || command -v ps >/dev/null || missing+=(procps)  # the test hosts are this machine

full=false
if [ "${1:-}" = test ] && [ "${2:-}" = --full ]; then
  full=true
  set -- test "${@:3}"
fi
wants_docker() {
  case "${1:-}" in
    test) $full || [ "${KAFKA_CHAOS_DOCKER:-0}" = 1 ] ;;
    run) [[ " $* " == *" --backend docker "* || " $* " == *" --backend=docker "* || " $* " == *" --attach"* ]] ;;
    *) false ;;
  esac
}
docker=false
if wants_docker "$@"; then
  docker=true
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)  # the Kafka image is built here
  command -v nsenter >/dev/null || missing+=(util-linux)
fi
install "${missing[@]}"

docker_pid=
storage_driver() {  # overlay2 when this kernel mounts overlayfs here, else vfs (slower, always works)
  local probe
  probe=$(mktemp -d)
  mkdir "$probe"/{lower,upper,work,merged}
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
       "$probe/merged" 2>/dev/null; then
    umount "$probe/merged"
    echo overlay2
  else
    echo vfs
  fi
  rm -rf "$probe"
}
start_docker() {
  docker info >/dev/null 2>&1 && return 0  # one is running: use it, leave it
  [ "$(id -u)" -eq 0 ] || { echo "no Docker daemon is running, and starting one needs root" >&2; exit 3; }
  local log=${TMPDIR:-/tmp}/kafka-chaos-dockerd.log driver
  driver=$(storage_driver)
  echo "starting dockerd (storage driver $driver, log $log)" >&2
  dockerd --iptables=false --ip-masq=false --bip 198.19.250.1/24 \
    --default-address-pool base=198.19.0.0/16,size=24 --storage-driver "$driver" >"$log" 2>&1 &
  docker_pid=$!
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$docker_pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "dockerd did not start (see $log)" >&2
  exit 3
}
stop_docker() {  # only the daemon this script started
  [ -n "$docker_pid" ] || return 0
  kill "$docker_pid" 2>/dev/null && wait "$docker_pid" 2>/dev/null || true
}
trap stop_docker EXIT

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "Python 3.11+ is needed (found $(python3 --version))" >&2; exit 3; }
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi

! $docker || start_docker
# Not exec: the trap stops a Docker daemon this script started once the command is done.
case "${1:-}" in
  run) shift; [ $# -gt 0 ] || set -- experiments/leader-kill-acks-all.yaml
       .venv/bin/kafka-chaos run "$@" ;;
  test) shift
        if $full; then .venv/bin/pytest -m "" "$@"; else .venv/bin/pytest "$@"; fi ;;
  *) echo "usage: ./run.sh run [kafka-chaos run args] | test [pytest args]" >&2; exit 2 ;;
esac
