#!/usr/bin/env bash
# kafka-chaos on a fresh machine: installs what is missing, then runs experiments or the tests.
#
#   ./run.sh run [ARGS]    kafka-chaos run ARGS (default: the leader-kill experiment)
#   ./run.sh test [ARGS]   the test suite (pytest ARGS)
#
# Installs, only when missing: iproute2, iptables, fuse3, libfaketime, a Java 17 runtime, Maven and PostgreSQL
# (and for the tests Chromium and openssh-server) from Debian packages (needs root), a Python virtual
# environment in .venv with the project and its test tools.
# Kafka itself comes from Maven Central on first use (or from KAFKA_HOME).
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
command -v java >/dev/null || [ -n "${JAVA_HOME:-}" ] || missing+=(openjdk-17-jre-headless)
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
install "${missing[@]}"

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

case "${1:-}" in
  run) shift; [ $# -gt 0 ] || set -- experiments/leader-kill-acks-all.yaml
       exec .venv/bin/kafka-chaos run "$@" ;;
  test) shift; exec .venv/bin/pytest "$@" ;;
  *) echo "usage: ./run.sh run [kafka-chaos run args] | test [pytest args]" >&2; exit 2 ;;
esac
