#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine (slurmctld + slurmd + a
# private munged), for the tests of `honeyimage eval slurm` that submit real
# `sbatch` job arrays. Debian only (installs slurm-wlm and munge with apt);
# the daemons run as root (re-run with sudo when needed); no systemd needed.
#
# Usage: scripts/slurm-local.sh start|stop|status [STATE_DIR]
#   STATE_DIR defaults to ${HONEYIMAGE_SLURM_DIR:-/tmp/honeyimage-slurm} and
#   holds everything: slurm.conf, munge key and socket, state, logs, pid files.
#   start   starts the cluster (or says it already runs), waits until the node
#           is idle, prints `export SLURM_CONF=...` (also in STATE_DIR/env.sh)
#           which client commands (sbatch, squeue, scontrol, scancel) need.
#   stop    cancels all jobs and stops the three daemons.
#   status  prints sinfo and exits 0, or prints "not running" and exits 1.
set -euo pipefail

cmd="${1:-}"
dir="${2:-${HONEYIMAGE_SLURM_DIR:-/tmp/honeyimage-slurm}}"
case "$cmd" in start|stop|status) ;; *) echo "usage: $0 start|stop|status [STATE_DIR]" >&2; exit 2 ;; esac
dir="$(realpath -m "$dir")"
if [ "$(id -u)" != 0 ]; then exec sudo "$0" "$cmd" "$dir"; fi
export SLURM_CONF="$dir/slurm.conf"
node="$(hostname -s)"

# Whether the daemon of pid file $1 (DIR/NAME.pid) runs: a process NAME, not a
# zombie (exited daemons can stay zombies for a while here).
alive() {
  local p st
  p="$(cat "$1" 2>/dev/null)" && [ -n "$p" ] || return 1
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ] || return 1
  st="$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" && [ -n "$st" ] && [ "$st" != Z ]
}
running() { alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" && scontrol ping 2>/dev/null | grep -q UP; }
stop_pid() {  # stop_pid PIDFILE: SIGTERM, then SIGKILL after 10 s
  if alive "$1"; then
    kill "$(cat "$1")" 2>/dev/null || true
    for _ in $(seq 100); do alive "$1" || break; sleep 0.1; done
    if alive "$1"; then kill -KILL "$(cat "$1")" 2>/dev/null || true; fi
  fi
  rm -f "$1"
}
logs() { for f in munged slurmctld slurmd; do echo "--- $dir/$f.log" >&2; tail -n 20 "$dir/$f.log" >&2 || true; done; }

case "$cmd" in
status)
  if [ -f "$SLURM_CONF" ] && running; then sinfo; else echo "not running"; exit 1; fi
  ;;

stop)
  if [ -f "$SLURM_CONF" ] && running; then
    # Job steps (slurmstepd) outlive slurmd: cancel every job and wait for it.
    scancel --quiet --full $(squeue -h -o %A) 2>/dev/null || true
    for _ in $(seq 30); do [ -z "$(squeue -h -o %A)" ] && break; sleep 1; done
  fi
  stop_pid "$dir/slurmd.pid"; stop_pid "$dir/slurmctld.pid"; stop_pid "$dir/munge/munged.pid"
  echo "slurm-local: stopped ($dir)"
  ;;

start)
  if [ -f "$SLURM_CONF" ] && running; then
    echo "slurm-local: already running ($SLURM_CONF)"; echo "export SLURM_CONF=$SLURM_CONF"; exit 0
  fi
  if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm-local: installing slurm-wlm and munge" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
  t0=$SECONDS
  # Half-started leftovers of an earlier run.
  stop_pid "$dir/slurmd.pid"; stop_pid "$dir/slurmctld.pid"
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool"
  # munged insists on: key readable only by its owner, every directory on the
  # socket's path searchable by all and not writable by others (unless sticky).
  chmod 755 "$dir"; chmod 711 "$dir/munge"
  if [ ! -s "$dir/munge/munge.key" ]; then
    head -c 1024 /dev/urandom >"$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"
  fi
  sock="$dir/munge/munge.socket"
  if ! alive "$dir/munge/munged.pid"; then
    munged --key-file="$dir/munge/munge.key" --socket="$sock" --pid-file="$dir/munge/munged.pid" \
      --log-file="$dir/munged.log" --seed-file="$dir/munge/munged.seed" \
      || { logs; echo "slurm-local: munged failed to start" >&2; exit 1; }
  fi

  mem=$(awk '/^MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
  cat >"$SLURM_CONF" <<EOF
# Written by scripts/slurm-local.sh: one node, jobs run as their submitter.
ClusterName=honeyimage
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
# Finished jobs stay visible to \`scontrol show job\` for this many seconds.
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  # -c: start with no jobs left over from an earlier run.
  slurmctld -c -f "$SLURM_CONF" || { logs; echo "slurm-local: slurmctld failed to start" >&2; exit 1; }
  slurmd -f "$SLURM_CONF" -N "$node" || { logs; echo "slurm-local: slurmd failed to start" >&2; exit 1; }
  for _ in $(seq 60); do
    [ "$(sinfo -h -N -n "$node" -o %t 2>/dev/null)" = idle ] && break
    sleep 1
  done
  if [ "$(sinfo -h -N -n "$node" -o %t 2>/dev/null)" != idle ]; then
    sinfo -N -l >&2 || true; logs
    echo "slurm-local: node $node not idle after 60 s (logs above, in $dir)" >&2; exit 1
  fi
  echo "export SLURM_CONF=$SLURM_CONF" >"$dir/env.sh"
  echo "slurm-local: node $node idle after $((SECONDS - t0)) s; source $dir/env.sh, or:" >&2
  echo "export SLURM_CONF=$SLURM_CONF"
  ;;
esac
