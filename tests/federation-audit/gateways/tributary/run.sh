# Tributary under the federation audit. The audit starts this as `sh run.sh SUITE_ID` (POSIX sh,
# not bash) in this folder and stops the gateway by killing this process, hence the `exec`.
# scripts/federation-audit.sh (and run-audit.sh) run a copy of this folder and rewrite the --cwd.
# TRIBUTARY_BIN (an absolute path) comes through the audit's environment: npm, tsx and the audit's
# spawn() pass it down unchanged; scripts/federation-audit.sh sets it.
npm start supergraph -- --cwd ./gateways/tributary --test "$1" || exit 1

exec "${TRIBUTARY_BIN:?TRIBUTARY_BIN must be the path of the tributary binary}" serve supergraph.graphql --listen 127.0.0.1:4000
