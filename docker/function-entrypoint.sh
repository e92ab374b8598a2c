#!/bin/sh
# The base image's /lambda-entrypoint.sh with one change: the Runtime Interface Emulator gets its
# log level from RIE_LOG_LEVEL on its command line, which it prefers to the LOG_LEVEL variable
# it would otherwise share with the app (DEBUG there would make it verbose; a value it does not
# know makes it exit). On Lambda itself (AWS_LAMBDA_RUNTIME_API set) the runtime starts directly.
set -eu

if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" >&2
  exit 142
fi
export _HANDLER="$1"

if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec /usr/local/bin/aws-lambda-rie --log-level "${RIE_LOG_LEVEL:-info}" /var/runtime/bootstrap
fi
exec /var/runtime/bootstrap
