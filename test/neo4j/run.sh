#!/usr/bin/env bash
# Starts the embedded Neo4j launcher built by build.sh; arguments go to rootline.neo4j.Launcher:
#   bash test/neo4j/run.sh [--password PW] [--no-stdin-watch] [--pagecache MB] [--delete-home] [port] [home-dir]
# It prints "BOLT_READY bolt://127.0.0.1:<port>" when ready and stops on SIGTERM or EOF on stdin.
# NEO4J_JAVA_OPTS (space separated) replaces the default heap/GC/JIT options below.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
classpath_file="$here/target/classpath.txt"
if [ ! -f "$classpath_file" ]; then
  echo "run.sh: $classpath_file is missing: run bash $here/build.sh first" >&2
  exit 3
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# Small and quick to start for short tests on 2 cores: C1 only, the serial collector, and a 16 MB
# initial heap so that RSS follows what is used.
read -r -a opts <<< "${NEO4J_JAVA_OPTS:--Xms16m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
# What Neo4j's own start script passes, so Netty and the page cache need no fallbacks.
opts+=(
  -XX:+ExitOnOutOfMemoryError
  -Dio.netty.tryReflectionSetAccessible=true
  -Dlog4j2.disable.jmx=true
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
)
# The class-data archive that build.sh makes for this JVM and classpath (about a third less CPU to start).
# A stale or foreign archive is ignored silently (-Xshare:auto).
archive="$here/target/launcher.jsa"
if [ -n "${NEO4J_CDS_DUMP:-}" ]; then
  opts+=("-XX:ArchiveClassesAtExit=$NEO4J_CDS_DUMP" -Xlog:cds=off -Xlog:cds+dynamic=off)
elif [ -f "$archive" ]; then
  opts+=("-XX:SharedArchiveFile=$archive" -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off)
fi
exec "$java" "${opts[@]}" -cp "$(cat "$classpath_file")" rootline.neo4j.Launcher "$@"
