#!/usr/bin/env bash
# A one-node Slurm cluster and a PostgreSQL server on localhost, for the tests of `--slurm` and of the
# PostgreSQL results store (issue 17). Installs nothing: it needs Debian's slurm-wlm, munge and
# postgresql (15) already there (`apt-get install -y slurm-wlm munge postgresql`), and root, because
# slurmd runs jobs as their submitter and the PostgreSQL server runs as the `postgres` user.
#
#   .ci/cluster.sh start   munged, slurmctld, slurmd (2 CPUs, no gres) and postgres, all under $DIR
#   .ci/cluster.sh env     the exports a test needs: eval "$(.ci/cluster.sh env)"
#   .ci/cluster.sh stop    cancels every job, stops the daemons, waits until none is left
#
# Everything (config, state, spool, logs, sockets, the database) lives under one folder,
# $VIFI_CLUSTER_DIR (default /tmp/vifi-cluster), so nothing of the machine's own /etc/slurm,
# /etc/munge or /var/lib/postgresql is read or changed, and `stop` + `rm -rf` leaves no trace.
# Ports are not Slurm's or PostgreSQL's defaults, so a machine that runs the real services still can
# run this: VIFI_CLUSTER_SLURM_PORT (16817, slurmd uses +1) and VIFI_CLUSTER_PG_PORT (55432).
set -euo pipefail

DIR="${VIFI_CLUSTER_DIR:-/tmp/vifi-cluster}"
SPORT="${VIFI_CLUSTER_SLURM_PORT:-16817}"
PGPORT="${VIFI_CLUSTER_PG_PORT:-55432}"
PGBIN="${VIFI_CLUSTER_PG_BIN:-/usr/lib/postgresql/15/bin}"
NODE="$(hostname -s)"
CONF="$DIR/etc/slurm.conf"
PGURL="postgres://postgres@127.0.0.1:$PGPORT/vifi"

die() { echo "cluster.sh: $*" >&2; exit 1; }

need() {
  [ "$(id -u)" -eq 0 ] || die "run as root (slurmd starts jobs as their user; postgres runs as 'postgres')"
  local missing=()
  for p in munged slurmctld slurmd sinfo sbatch; do command -v "$p" >/dev/null || missing+=("$p"); done
  [ -x "$PGBIN/initdb" ] || missing+=("$PGBIN/initdb")
  id postgres >/dev/null 2>&1 || missing+=("user postgres")
  [ ${#missing[@]} -eq 0 ] ||
    die "missing ${missing[*]}; install with: apt-get install -y slurm-wlm munge postgresql"
}

# A pid file's process, if it still runs.
alive() { local pid; pid="$(cat "$1" 2>/dev/null)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

write_conf() {
  mkdir -p "$DIR/etc" "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"
  # proctrack/linuxproc and task/none: containers and CI runners rarely give a writable cgroup tree,
  # and one node with no limits to enforce needs neither. Accounting is off (no slurmdbd): `squeue`
  # and the job's own files say what happened; MinJobAge keeps finished jobs visible to squeue/scontrol
  # for 5 minutes. cred_expire=10: Slurm holds a requeued job for cred_expire seconds (120 by default)
  # before it may start again, and the preemption test requeues; batch_sched_delay=0 schedules a batch
  # job when it is submitted (Slurm's default waits up to 3 s).
  cat >"$CONF" <<EOF
ClusterName=vifi
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$SPORT
SlurmdPort=$((SPORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/run/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
PlugStackConfig=$DIR/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
KillWait=10
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$DIR/etc/plugstack.conf"
}

start_munge() {
  alive "$DIR/run/munged.pid" && return
  # a key of our own (1 KiB random), so the machine's /etc/munge/munge.key is neither needed nor read
  [ -f "$DIR/etc/munge.key" ] || { head -c 1024 /dev/urandom >"$DIR/etc/munge.key"; }
  chmod 600 "$DIR/etc/munge.key"
  chmod 755 "$DIR/run"
  # --force: munged refuses to run as root and dislikes a socket folder in /tmp without it
  munged --force --key-file="$DIR/etc/munge.key" --socket="$DIR/run/munge.socket" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/state/munged.seed"
}

start_slurm() {
  alive "$DIR/run/slurmctld.pid" || slurmctld -f "$CONF" -i
  alive "$DIR/run/slurmd.pid" || slurmd -f "$CONF" -N "$NODE"
  # ready when the node answers idle (slurmd registered with slurmctld)
  for _ in $(seq 1 60); do
    state="$(SLURM_CONF="$CONF" sinfo -h -N -o %t 2>/dev/null || true)"
    [ "$state" = "idle" ] && return
    sleep 0.5
  done
  die "the node did not become idle in 30 s (sinfo says '${state:-nothing}'); see $DIR/log/"
}

start_postgres() {
  local data="$DIR/pg/data"
  mkdir -p "$DIR/pg"
  chmod 755 "$DIR"
  chown postgres: "$DIR/pg"
  if [ ! -f "$data/PG_VERSION" ]; then
    # trust on 127.0.0.1 only: a throwaway server for tests, reachable from this machine alone
    runuser -u postgres -- "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$DIR/pg/initdb.log"
  fi
  if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -w -t 60 -l "$DIR/pg/postgres.log" \
      -o "-p $PGPORT -k $DIR/pg -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
  fi
  runuser -u postgres -- "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'vifi'" | grep -q 1 ||
    runuser -u postgres -- "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE vifi"
}

# The pid is read once: a daemon removes its pid file when it starts shutting down, and one that then hangs
# (slurmd waiting on a step daemon) must still get the KILL. A zombie counts as gone.
stop_pid() {
  local f="$1" i pid
  alive "$f" || return 0
  pid="$(cat "$f")"
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 40); do
    { kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; } || return 0
    sleep 0.25
  done
  kill -9 "$pid" 2>/dev/null || true
  for i in $(seq 1 20); do
    { kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; } || return 0
    sleep 0.25
  done
}

cmd_stop() {
  if alive "$DIR/run/slurmctld.pid"; then
    # jobs first, so no slurmstepd outlives its slurmd: TERM (a trainer saves), then KILL after 5 s
    local jobs
    jobs="$(SLURM_CONF="$CONF" squeue -h -t PD,R,CG,S -o %A 2>/dev/null | tr '\n' ' ')"
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086
      SLURM_CONF="$CONF" scancel --quiet $jobs 2>/dev/null || true
      for i in $(seq 1 60); do
        [ -z "$(SLURM_CONF="$CONF" squeue -h -t PD,R,CG,S -o %A 2>/dev/null)" ] && break
        # shellcheck disable=SC2086
        [ "$i" = 20 ] && { SLURM_CONF="$CONF" scancel --quiet --full --signal=KILL $jobs 2>/dev/null || true; }
        sleep 0.25
      done
    fi
  fi
  stop_pid "$DIR/run/slurmd.pid"
  stop_pid "$DIR/run/slurmctld.pid"
  stop_pid "$DIR/run/munged.pid"
  if [ -f "$DIR/pg/data/PG_VERSION" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/pg/data" status >/dev/null 2>&1 &&
      runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m fast -w stop >/dev/null
  fi
  # what a step daemon of a killed slurmd may leave: any slurmstepd whose config is ours
  local left
  left="$(pgrep -f -- "$DIR/" || true)"
  [ -z "$left" ] || die "still running after stop: $(ps -o pid=,args= -p "$(echo $left | tr ' ' ,)")"
}

cmd_env() {
  echo "export SLURM_CONF=$CONF"
  echo "export VIFI_TEST_POSTGRES=$PGURL"
}

case "${1:-}" in
  start)
    need
    mkdir -p "$DIR"
    write_conf
    start_munge
    start_slurm
    start_postgres
    echo "cluster.sh: node $NODE idle (slurmctld :$SPORT), postgres $PGURL; logs in $DIR/log and $DIR/pg" >&2
    cmd_env
    ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  *) die "usage: $0 start|stop|env" ;;
esac
