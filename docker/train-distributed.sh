#!/usr/bin/env bash
# Multi-worker training in containers: WORKERS containers of the trainer image on one network,
# each with TF_CONFIG naming them all and its own index, run `python -m pipeline <command>` under
# tf.distribute.MultiWorkerMirroredStrategy. Worker 0 (the chief) publishes through the gated
# pipeline into MODELS_DIR; the others exit after training. Docker's restart policy restarts a
# worker that dies, and the job resumes from the chief's last checkpoint (pipeline/distributed.py).
# The containers and the network are removed at the end, however it ends.
#   docker/train-distributed.sh NAME WORKERS [run|train] [pipeline flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: docker/train-distributed.sh NAME WORKERS [run|train] [flags...]}"
workers="${2:?usage: docker/train-distributed.sh NAME WORKERS [run|train] [flags...]}"
shift 2
command="${1:-run}"
[ $# -gt 0 ] && shift
models="$(realpath -m "${MODELS_DIR:-models}")"
port=12345            # each worker's collective-ops server (design.md's ports)
restarts=5            # per worker, then the job fails
fail() { echo "train-distributed: $*" >&2; exit 2; }
[[ "$workers" =~ ^[1-9][0-9]?$ ]] || fail "WORKERS must be a whole number from 1 to 99, not '$workers'"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || fail "invalid model name '$name'"
[[ "$command" =~ ^(run|train)$ ]] || fail "the command is run or train, not '$command'"
docker image inspect trainer >/dev/null 2>&1 || fail "the trainer image is missing: run make images"
mkdir -p "$models"

job="train-$name"
hosts=()
for ((i = 0; i < workers; i++)); do hosts+=("\"$job-$i:$port\""); done
cluster="$(IFS=,; echo "${hosts[*]}")"

cleanup() {
  docker rm -f $(docker ps -aq --filter "label=keras-deploy.job=$job") >/dev/null 2>&1 || true
  docker network rm "$job" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup  # what an earlier, interrupted job of this name left
docker network create --label "keras-deploy.job=$job" "$job" >/dev/null
for ((i = 0; i < workers; i++)); do
  # as the invoking user, so that what the chief publishes is theirs; HOME for Keras's cache
  docker run -d --name "$job-$i" --hostname "$job-$i" --network "$job" \
    --label "keras-deploy.job=$job" --restart "on-failure:$restarts" \
    --user "$(id -u):$(id -g)" -e HOME=/tmp -v "$models:/models" \
    -e TF_CONFIG="{\"cluster\":{\"worker\":[$cluster]},\"task\":{\"type\":\"worker\",\"index\":$i}}" \
    trainer "$command" --name "$name" "$@" >/dev/null
done
echo "train-distributed: $workers workers of job $job started; following worker 0 (the chief)"

state() { docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$1"; }
# the chief's output as it comes, across its restarts (docker logs -f ends at each exit)
since=0
while true; do
  docker logs -f --since "$since" "$job-0" 2>&1 || true
  since="$(date +%s)"
  read -r status code count < <(state "$job-0")
  if [ "$status" = exited ] && { [ "$code" = 0 ] || [ "$count" -ge "$restarts" ]; }; then break; fi
  while [ "$(state "$job-0" | cut -d' ' -f1)" = restarting ]; do sleep 1; done
  echo "train-distributed: worker 0 restarted ($count of $restarts)"
done

failed=0
for ((i = 0; i < workers; i++)); do
  # a worker other than the chief ends with it; give it a moment to finish its exit
  for _ in $(seq 30); do [ "$(state "$job-$i" | cut -d' ' -f1)" = exited ] && break; sleep 1; done
  read -r status code count < <(state "$job-$i")
  echo "train-distributed: worker $i: $status, exit $code, restarted $count times"
  [ "$status" = exited ] && [ "$code" = 0 ] || failed=1
done
exit "$failed"
