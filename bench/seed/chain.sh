#!/bin/bash -e
# What entrykit's `prehook add-server-id.sh -- CMD` amounts to: run the hook,
# then exec the command (entrykit itself is not packaged for Debian).
"$(dirname "$0")/add-server-id.sh"
exec "$@"
