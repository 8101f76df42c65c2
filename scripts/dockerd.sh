#!/usr/bin/env bash
#! Starts the local Docker engine if it is not answering, whatever state a previous run left.
# A machine may carry a pid file from a dockerd that died with the last session: a stale
# pid file makes dockerd refuse to start, so it is removed when its process is gone.
set -euo pipefail
if docker version >/dev/null 2>&1; then exit 0; fi
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then rm -f "$pidfile"; fi
for f in /var/run/docker/containerd/containerd.pid /run/docker/containerd/containerd.pid; do
  if [ -f "$f" ] && ! kill -0 "$(cat "$f")" 2>/dev/null; then rm -f "$f"; fi
done
echo "[dockerd] starting the local engine (log: /var/log/dockerd.log)"
nohup dockerd >/var/log/dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if docker version >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "[dockerd] the engine did not answer within 30 s; see /var/log/dockerd.log" >&2
tail -20 /var/log/dockerd.log >&2
exit 1
