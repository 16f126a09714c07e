#!/bin/sh
# A single-node Temporal server on PostgreSQL (docs/deploy.md, step 1): applies the schema
# with the SQL tool (idempotent), writes the server's config from the environment, starts
# the server and registers TEMPORAL_NAMESPACE once it answers.
#   POSTGRES_HOST, POSTGRES_USER, POSTGRES_PASSWORD_FILE, TEMPORAL_NAMESPACE
set -eu
: "${POSTGRES_HOST:?}" "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD_FILE:?}" "${TEMPORAL_NAMESPACE:=default}"
password="$(cat "$POSTGRES_PASSWORD_FILE")"
sql() { SQL_PASSWORD="$password" temporal-sql-tool --ep "$POSTGRES_HOST" -p 5432 -u "$POSTGRES_USER" --pl postgres12 --db "$@"; }
schema() {
  for pair in temporal:temporal temporal_visibility:visibility; do
    db="${pair%%:*}"; kind="${pair##*:}"
    sql "$db" create-database >/dev/null 2>&1 || true   # already there on a restart
    sql "$db" setup-schema -v 0.0 || return 1
    sql "$db" update-schema -d "/etc/temporal/schema/$kind/versioned" || return 1
  done
}
# PostgreSQL may not answer yet: podman-compose before podman 4.6 starts services without
# waiting for their dependencies' health, and Kubernetes never waits.
tries=0
until schema >/tmp/schema.log 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { cat /tmp/schema.log >&2; echo "temporal: could not apply the schema on $POSTGRES_HOST" >&2; exit 1; }
  sleep 1
done
ip="$(hostname -i | cut -d' ' -f1)"
datastore() { # NAME DATABASE MAXCONNS
  cat <<YAML
    $1:
      sql:
        pluginName: postgres12
        databaseName: $2
        connectAddr: "$POSTGRES_HOST:5432"
        connectProtocol: tcp
        user: "$POSTGRES_USER"
        password: "$password"
        maxConns: $3
        maxIdleConns: $3
        maxConnLifetime: 1h
YAML
}
umask 077
{
  cat <<YAML
log: {stdout: true, level: warn}
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
YAML
  datastore default temporal 20
  datastore visibility temporal_visibility 4
  cat <<YAML
global:
  membership: {maxJoinDuration: 30s, broadcastAddress: "$ip"}
services:
  frontend: {rpc: {grpcPort: 7233, membershipPort: 6933, bindOnIP: 0.0.0.0, httpPort: 7243}}
  matching: {rpc: {grpcPort: 7235, membershipPort: 6935, bindOnIP: 0.0.0.0}}
  history: {rpc: {grpcPort: 7234, membershipPort: 6934, bindOnIP: 0.0.0.0}}
  worker: {rpc: {grpcPort: 7239, membershipPort: 6939, bindOnIP: 0.0.0.0}}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active: {enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "127.0.0.1:7233"}
dcRedirectionPolicy: {policy: noop}
dynamicConfigClient: {filepath: /etc/temporal/config/dynamicconfig.yaml, pollInterval: 10s}
YAML
} >/etc/temporal/config/temporal.yaml
# The embedded dev server's tuning (worker/temporal-server.ts), so cells cost the same.
cat >/etc/temporal/config/dynamicconfig.yaml <<YAML
history.transferProcessorMaxPollRPS: [{value: 10000}]
system.enableActivityEagerExecution: [{value: true}]
YAML
(
  until temporal operator namespace describe -n "$TEMPORAL_NAMESPACE" --address 127.0.0.1:7233 >/dev/null 2>&1 \
        || temporal operator namespace create -n "$TEMPORAL_NAMESPACE" --address 127.0.0.1:7233 >/dev/null 2>&1; do
    sleep 1
  done
) &
exec temporal-server --config-file /etc/temporal/config/temporal.yaml --allow-no-auth start
