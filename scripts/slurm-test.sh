#!/usr/bin/env bash
# A sweep on a real, single-node Slurm (this machine), through the slurm verb:
#   1. installs Debian's slurm-wlm and munge when missing (apt-get; root only),
#   2. writes a slurm.conf for this machine's CPUs with every state, spool, log and
#      socket path under a temporary folder, starts munged, slurmctld and slurmd,
#   3. submits a 4-task array of a small digits sweep with `saerun slurm --submit`,
#      cancels one task while it trains and requeues it, waits for the array and the
#      afterany job (compaction and report),
#   4. checks with pandas that every run completed exactly once and that its metrics
#      equal, bit for bit, those of one local process running the same spec with the
#      same binary and backend,
#   5. prints the array's wall time against that local process.
# It stops every daemon it started (by pid) and removes the folder, also on failure.
# Without Slurm (and no way to install it) it skips, unless SAERUN_REQUIRE_SLURM=1
# (set by .ci/run), where that is a failure.
#   bash scripts/slurm-test.sh            # ~30 s on 2 cores (plus apt-get the first time)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "slurm-test: $*" >&2; }
unavailable() {
  if [[ "${SAERUN_REQUIRE_SLURM:-0}" == 1 ]]; then
    log "FAIL: $* (SAERUN_REQUIRE_SLURM=1)"
    exit 1
  fi
  log "SKIP: $*"
  exit 0
}

# --- 1. Slurm and munge -------------------------------------------------------------
need=()
for bin in slurmctld slurmd sbatch munged; do
  command -v "$bin" >/dev/null || need+=("$bin")
done
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    unavailable "no ${need[*]}, and installing slurm-wlm and munge needs root and apt-get"
  fi
  log "apt-get install slurm-wlm munge (missing: ${need[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || unavailable "apt-get update failed"
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2 || unavailable "apt-get install slurm-wlm munge failed"
  # The packages' services must not run: this test starts its own daemons.
  for svc in munge slurmctld slurmd; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
  done
fi
[[ $(id -u) == 0 ]] || unavailable "slurmd runs as root here (SlurmdUser=root); run as root"
[[ -x .venv/bin/python ]] || { log "FAIL: no .venv/bin/python: run scripts/setup.sh"; exit 1; }

# --- 2. daemons ---------------------------------------------------------------------
TMP="$(mktemp -d /tmp/saerun-slurm.XXXXXX)"
# Logs and results in folders whose names sbatch must read quoted (a space, '#') and
# whose '%' the slurm verb must escape (--output is a filename pattern).
LOGS="$TMP/logs #1 %x"
RES="$TMP/slurm results"
chmod 755 "$TMP"
pids=()
cleanup() {
  local rc=$?
  set +e
  if [[ -n "${SLURM_CONF:-}" && -f "$SLURM_CONF" ]] && command -v scancel >/dev/null; then
    timeout 10 scancel --quiet --name "saerun-$NAME" 2>/dev/null
    timeout 10 scancel --quiet --name "saerun-$NAME-finish" 2>/dev/null
    # Let slurmd end the jobs' steps (slurmstepd) before the daemons stop.
    for _ in $(seq 40); do [[ -z "$(timeout 5 squeue -h 2>/dev/null)" ]] && break; sleep 0.5; done
  fi
  for ((k = ${#pids[@]} - 1; k >= 0; k--)); do
    kill "${pids[k]}" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if ((rc != 0)); then
    for f in "$TMP"/slurmctld.log "$TMP"/slurmd.log "$TMP"/logs/*; do
      [[ -f $f ]] && { echo "--- $f (last 25 lines)" >&2; tail -25 "$f" >&2; }
    done
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
NAME=slurm-digits

mkdir -p "$TMP"/{state,spool,munge,logs}
chmod 700 "$TMP/munge"
dd if=/dev/urandom of="$TMP/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$TMP/munge/munge.key"
SOCK="$TMP/munge/munge.socket"
munged --foreground --force --key-file="$TMP/munge/munge.key" --socket="$SOCK" \
  --pid-file="$TMP/munge/munged.pid" --log-file="$TMP/munge/munged.log" --seed-file="$TMP/munge/munged.seed" \
  >"$TMP/munge/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do munge -n -S "$SOCK" 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 && break; sleep 0.2; done
munge -n -S "$SOCK" | unmunge -S "$SOCK" >/dev/null || { log "FAIL: munged does not answer on $SOCK"; cat "$TMP/munge/munged.log" >&2; exit 1; }

HOST="$(hostname -s)"
CPUS="$(nproc)"
PORT=$((20000 + RANDOM % 20000))
export SLURM_CONF="$TMP/slurm.conf"
cat > "$SLURM_CONF" <<EOF
ClusterName=saerun-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$SOCK
CredType=cred/munge
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/slurmctld.log
SlurmdLogFile=$TMP/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
JobRequeue=1
KillWait=15
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 NodeHostname=$HOST CPUs=$CPUS State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i -f "$SLURM_CONF" >"$TMP/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$TMP/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
  state="$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)"
  [[ $state == idle ]] && break
  sleep 1
done
[[ $state == idle ]] || { log "FAIL: node $HOST is '$state', not idle, after 60 s"; exit 1; }
log "slurm up: node $HOST, $CPUS CPUs, slurmctld port $PORT ($(sinfo -V))"

# --- 3. the sweep on Slurm ----------------------------------------------------------
go build -o "$TMP/saerun" ./experiments
EPOCHS="${SAERUN_SLURM_TEST_EPOCHS:-20}" # more, to measure the array against one process
SETS=(--set "name=$NAME" --set "train.epochs=$EPOCHS")
BACKEND="${SAERUN_SLURM_BACKEND:-${GOMLX_BACKEND:-auto}}"
# Submitted from the checkout, as a researcher would: tasks start here (the report
# verb finds its notebook and .venv/bin/jupyter here); results and logs go to $TMP.
SPEC=experiments/quickstart.yaml
start=$SECONDS
# --log-every 0: a task's log gets a line at every epoch, which tells this script it trains.
ids="$("$TMP/saerun" slurm "$SPEC" --tasks 4 --out "$RES" --logs "$LOGS" --backend "$BACKEND" --log-every 0 "${SETS[@]}" --submit)"
ARRAY="$(awk '$1 == "array" {print $2}' <<<"$ids")"
FINISH="$(awk '$1 == "finish" {print $2}' <<<"$ids")"
[[ -n $ARRAY && -n $FINISH ]] || { log "FAIL: the slurm verb printed no job ids: $ids"; exit 1; }
log "submitted: array job $ARRAY (4 tasks), finish job $FINISH"

# Cancel a task once it trains (its log shows an epoch), then requeue it.
victim=""
for _ in $(seq 240); do
  for t in 0 1 2 3; do
    f="$LOGS/saerun-$NAME-${ARRAY}_$t.log"
    if [[ -f $f ]] && grep -q " epoch [0-9]*/" "$f" && [[ "$(squeue -h -j "${ARRAY}_$t" -o %T 2>/dev/null)" == RUNNING ]]; then
      victim=$t
      break 2
    fi
  done
  [[ -n "$(squeue -h -j "$ARRAY" 2>/dev/null)" ]] || { log "FAIL: every task of $ARRAY ended before one could be cancelled while training"; exit 1; }
  sleep 0.5
done
[[ -n $victim ]] || { log "FAIL: no task of $ARRAY started training within 120 s"; squeue >&2; exit 1; }
log "cancelling task ${ARRAY}_$victim while it trains"
scancel "${ARRAY}_$victim"
for _ in $(seq 120); do
  st="$(scontrol show job "${ARRAY}_$victim" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1)"
  [[ $st == JobState=CANCELLED ]] && break
  sleep 0.5
done
[[ $st == JobState=CANCELLED ]] || { log "FAIL: task ${ARRAY}_$victim is $st after scancel"; exit 1; }
log "requeueing task ${ARRAY}_$victim"
scontrol requeue "${ARRAY}_$victim"
# Slurm holds a requeued job back (BeginTime about 2 min ahead); let it start now.
scontrol update JobId="${ARRAY}_$victim" StartTime=now

# Wait for the finish job (it runs after every task has ended).
for _ in $(seq 600); do
  fst="$(scontrol show job "$FINISH" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1)"
  [[ $fst == JobState=COMPLETED || $fst == JobState=FAILED || $fst == JobState=CANCELLED || $fst == JobState=TIMEOUT ]] && break
  sleep 1
done
slurm_wall=$((SECONDS - start))
# Slurm's own times (1 s resolution): when the last task ended, and the finish job.
epoch_of() { date -d "$(scontrol show job "$1" | grep -o "$2=[0-9T:-]*" | head -1 | cut -d= -f2)" +%s; }
tasks_end=0
for t in 0 1 2 3; do e=$(epoch_of "${ARRAY}_$t" EndTime); ((e > tasks_end)) && tasks_end=$e; done
array_wall=$((tasks_end - $(epoch_of "${ARRAY}_0" SubmitTime)))
finish_wall=$(($(epoch_of "$FINISH" EndTime) - $(epoch_of "$FINISH" StartTime)))
[[ $fst == JobState=COMPLETED ]] || { log "FAIL: finish job $FINISH ended $fst"; exit 1; }
restarts="$(scontrol show job "${ARRAY}_$victim" | grep -o 'Restarts=[0-9]*')"
[[ $restarts == Restarts=1 ]] || { log "FAIL: task ${ARRAY}_$victim has $restarts, expected 1 (one requeue)"; exit 1; }
for t in 0 1 2 3; do
  st="$(scontrol show job "${ARRAY}_$t" | grep -o 'JobState=[A-Z_]*' | head -1)"
  [[ $st == JobState=COMPLETED ]] || { log "FAIL: task ${ARRAY}_$t ended $st"; exit 1; }
done
grep -q "interrupt" "$LOGS/saerun-$NAME-${ARRAY}_$victim.log" || { log "FAIL: the cancelled task's log shows no interrupt"; exit 1; }
[[ -s "$RES/$NAME/report.html" ]] || { log "FAIL: the finish job wrote no report.html"; exit 1; }
# Tasks run --no-compact; the finish job compacted: part files, no per-run files left.
compgen -G "$RES/$NAME/metrics/part-*.parquet" >/dev/null || { log "FAIL: the finish job did not compact the metrics"; ls "$RES/$NAME/metrics" >&2; exit 1; }

# --- 4. the same spec in one local process ------------------------------------------
start=$SECONDS
"$TMP/saerun" --out "$TMP/local-results" --backend "$BACKEND" "${SETS[@]}" "$SPEC" 2> "$LOGS/local.log" || { tail -20 "$LOGS/local.log" >&2; exit 1; }
local_wall=$((SECONDS - start))

"$ROOT/.venv/bin/python" - "$RES/$NAME" "$TMP/local-results/$NAME" <<'EOF'
import sys
from pathlib import Path
import pandas as pd

slurm, local = (Path(p) for p in sys.argv[1:3])
rs = pd.read_parquet(slurm / "runs")
rl = pd.read_parquet(local / "runs")
assert len(rl) == 18 and rl.run_id.is_unique, rl.run_id
# Every run completed exactly once: one row per run, each completed, the same runs.
dup = rs.run_id[rs.run_id.duplicated()].tolist()
assert not dup, f"runs recorded twice on Slurm: {dup}"
assert set(rs.run_id) == set(rl.run_id), sorted(set(rs.run_id) ^ set(rl.run_id))
assert set(rs.status) == {"completed"}, rs.status.value_counts().to_dict()
assert set(rs.backend) == set(rl.backend), (set(rs.backend), set(rl.backend))

# Metrics bit for bit: the same rows and the same float64 bit patterns.
key = ["run_id", "epoch", "split", "metric"]
ms = pd.read_parquet(slurm / "metrics")
ml = pd.read_parquet(local / "metrics")
assert not ms.duplicated(key).any(), "metrics rows recorded twice on Slurm"
assert len(ms) == len(ml) > 0, (len(ms), len(ml))
ms = ms.sort_values(key).reset_index(drop=True)
ml = ml.sort_values(key).reset_index(drop=True)
assert ms[key].equals(ml[key]), "different metric rows"
bs = ms.value.to_numpy("float64").view("uint64")
bl = ml.value.to_numpy("float64").view("uint64")
diff = (bs != bl).nonzero()[0]
assert len(diff) == 0, f"{len(diff)} metric values differ, first: {ms.loc[diff[0], key].tolist()} {ms.value[diff[0]]!r} vs {ml.value[diff[0]]!r}"
print(f"slurm-test: {len(rs)} runs completed once each; {len(ms)} metric values equal the local run's bit for bit")
EOF
log "wall time (backend $BACKEND, $CPUS CPUs): Slurm array of 4 tasks ${array_wall}s from submission to its last task's end (one task cancelled and requeued), finish job (compact, report) ${finish_wall}s, all ${slurm_wall}s; one local process ${local_wall}s"
log "PASS"
