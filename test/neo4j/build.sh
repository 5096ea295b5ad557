#!/usr/bin/env bash
# Builds the embedded Neo4j launcher used by test/helpers/neo4j.ts, only when needed.
# Output: test/neo4j/target/classpath.txt (launcher jar + Neo4j's jars in ~/.m2), printed on the last line,
# and target/launcher.jsa, a class-data archive from one training run that makes each start cheaper
# (best effort; NEO4J_CDS=0 skips it). Start the server with run.sh.
# The first build downloads Neo4j 5.26 and its dependencies from Maven Central (~165 MB into ~/.m2) and
# takes about a minute; later runs with an unchanged pom.xml, Launcher.java and JDK return at once.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
target="$here/target"
stamp="$target/build.stamp"
classpath="$target/classpath.txt"
archive="$target/launcher.jsa"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

if ! command -v "$java" >/dev/null 2>&1; then
  echo "build.sh: $java not found (need Java 17+ and Maven 3.8+)" >&2
  exit 3
fi
mkdir -p "$target"
# One build at a time, e.g. two test files starting Neo4j at once on a fresh machine.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$target/.build.lock"
  flock 9
fi

inputs_hash() {
  # The pom and the sources decide the build; the JDK's version goes in so a new JDK rebuilds too.
  { cat pom.xml; find src -type f -name '*.java' | LC_ALL=C sort | xargs cat; "$java" -version 2>&1; } | sha256sum | cut -d' ' -f1
}

up_to_date() {
  [ -f "$stamp" ] && [ -f "$classpath" ] && [ -f "$target/neo4j-launcher.jar" ] || return 1
  [ "$(cat "$stamp")" = "$(inputs_hash)" ] || return 1
  # Every jar on the classpath must still be there (~/.m2 may have been wiped).
  local entry
  while IFS= read -r -d ':' entry; do
    [ -f "$entry" ] || return 1
  done < <(printf '%s:' "$(cat "$classpath")")
}

if ! up_to_date; then
  echo "build.sh: building the Neo4j launcher with Maven (the first run downloads ~150 MB)" >&2
  if ! command -v mvn >/dev/null 2>&1; then
    echo "build.sh: mvn not found (need Java 17+ and Maven 3.8+)" >&2
    exit 3
  fi
  started=$(date +%s)
  rm -f "$stamp" "$classpath" "$archive" "$archive.failed"
  # Maven 3.8 prints ANSI resets even with -q -B; keep stdout for the classpath path alone.
  mvn -q -B -Dmaven.test.skip=true package 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
  printf '%s:%s' "$target/neo4j-launcher.jar" "$(cat "$target/deps-classpath.txt")" > "$classpath.tmp"
  mv "$classpath.tmp" "$classpath"
  inputs_hash > "$stamp"
  echo "build.sh: built in $(( $(date +%s) - started )) s" >&2
fi

if [ "${NEO4J_CDS:-1}" != 0 ] && [ ! -f "$archive" ] && [ ! -f "$archive.failed" ]; then
  echo "build.sh: training run for the class-data archive" >&2
  started=$(date +%s)
  rm -f "$archive.tmp"
  if NEO4J_CDS_DUMP="$archive.tmp" timeout 600 bash "$here/run.sh" --train --password training-only 0 </dev/null >/dev/null 2>"$target/train.log" \
      && [ -s "$archive.tmp" ]; then
    mv "$archive.tmp" "$archive"
    echo "build.sh: class-data archive made in $(( $(date +%s) - started )) s" >&2
  else
    # Not fatal: the server starts without it, only slower. Not retried until the next rebuild.
    rm -f "$archive.tmp"
    touch "$archive.failed"
    echo "build.sh: no class-data archive (see $target/train.log); starts will be slower" >&2
  fi
fi
echo "$classpath"
