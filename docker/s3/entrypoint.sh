#!/bin/sh
set -eu
if [ -n "${S3_CREDENTIALS_FILE:-}" ]; then
  ROOT_ACCESS_KEY_ID="$(sed -n 's/^aws_access_key_id *= *//p' "$S3_CREDENTIALS_FILE" | head -n1)"
  ROOT_SECRET_ACCESS_KEY="$(sed -n 's/^aws_secret_access_key *= *//p' "$S3_CREDENTIALS_FILE" | head -n1)"
  export ROOT_ACCESS_KEY_ID ROOT_SECRET_ACCESS_KEY
fi
[ -n "${S3_BUCKET:-}" ] && mkdir -p "/data/$S3_BUCKET"
exec versitygw --port :7070 --quiet --health /health --iam-dir /iam posix /data
