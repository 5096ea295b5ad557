#!/usr/bin/env bash
# Builds the embedded Neo4j launcher that test/helpers/neo4j.ts starts through run.sh, only when needed.
#
# Prints the path of target/classpath.txt (launcher jar + Neo4j's jars in ~/.m2) on its last line, and links
# target/launcher.jsa, a class-data archive from one training run that makes every start cheaper.
#
# Both live in a cache outside the work tree, keyed by a hash of pom.xml, the Java sources and the JDK's
# version: ${NEO4J_LAUNCHER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/rootline-neo4j-launcher}/<hash>/. So a fresh
# clone on a machine that built the same launcher before (CI) neither runs Maven nor trains again.
#
# First build on a fresh machine: Maven downloads Neo4j 5.26 and its dependencies from Maven Central
# (~165 MB into ~/.m2, ~20 s), then one training run (~25 s) writes the ~115 MB archive.
# NEO4J_CDS=0 skips the archive (each start then takes ~2-3 s more CPU). Needs Java 17+ and Maven 3.8+.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
target="$here/target"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

if ! command -v "$java" >/dev/null 2>&1; then
  echo "build.sh: $java not found (need Java 17+ and Maven 3.8+)" >&2
  exit 3
fi
mkdir -p "$target"
cache_root="${NEO4J_LAUNCHER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rootline-neo4j-launcher}"
mkdir -p "$cache_root"
# One build at a time, e.g. two test files starting Neo4j at once on a fresh machine.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache_root/.lock"
  flock 9
fi

# The pom and the sources decide the build; the JDK's version goes in so that a new JDK rebuilds too.
hash="$({ cat pom.xml; find src -type f -name '*.java' | LC_ALL=C sort | xargs cat; "$java" -version 2>&1; } | sha256sum | cut -c1-32)"
cache="$cache_root/$hash"

# A classpath file whose every jar is still there (~/.m2 may have been wiped).
valid_classpath() {
  [ -s "$1" ] || return 1
  local entry
  while IFS= read -r -d ':' entry; do
    [ -f "$entry" ] || return 1
  done < <(printf '%s:' "$(cat "$1")")
}

if ! valid_classpath "$cache/classpath.txt"; then
  if ! command -v mvn >/dev/null 2>&1; then
    echo "build.sh: mvn not found (need Java 17+ and Maven 3.8+)" >&2
    exit 3
  fi
  echo "build.sh: building the Neo4j launcher with Maven (the first build downloads ~165 MB into ~/.m2)" >&2
  started=$(date +%s)
  # Maven 3.8 prints ANSI resets even with -q -B; stdout is kept for the classpath path alone.
  mvn -q -B -Dmaven.test.skip=true package 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
  rm -rf "$cache"
  mkdir -p "$cache"
  cp "$target/neo4j-launcher.jar" "$cache/neo4j-launcher.jar"
  printf '%s:%s' "$cache/neo4j-launcher.jar" "$(cat "$target/deps-classpath.txt")" > "$cache/classpath.txt.tmp"
  mv "$cache/classpath.txt.tmp" "$cache/classpath.txt"
  echo "build.sh: built in $(( $(date +%s) - started )) s" >&2
fi
# run.sh reads these two.
cmp -s "$cache/classpath.txt" "$target/classpath.txt" || cp "$cache/classpath.txt" "$target/classpath.txt"
rm -f "$target/launcher.jsa"

archive="$cache/launcher.jsa"
if [ "${NEO4J_CDS:-1}" != 0 ] && [ ! -f "$archive" ] && [ ! -f "$archive.failed" ]; then
  echo "build.sh: training run for the class-data archive" >&2
  started=$(date +%s)
  rm -f "$archive.tmp"
  if NEO4J_CDS_DUMP="$archive.tmp" timeout 600 bash "$here/run.sh" --train --password training-only 0 \
      </dev/null >/dev/null 2>"$cache/train.log" && [ -s "$archive.tmp" ]; then
    mv "$archive.tmp" "$archive"
    echo "build.sh: class-data archive made in $(( $(date +%s) - started )) s" >&2
  else
    # Not fatal: the server starts without it, only slower. Not retried for this build.
    rm -f "$archive.tmp"
    touch "$archive.failed"
    echo "build.sh: no class-data archive (see $cache/train.log); starts will be slower" >&2
  fi
fi
if [ -f "$archive" ]; then ln -s "$archive" "$target/launcher.jsa"; fi

# Keep the three most recently used builds in the cache.
touch "$cache"
find "$cache_root" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{32}' -printf '%T@ %p\n' \
  | sort -rn | tail -n +4 | cut -d' ' -f2- | while IFS= read -r old; do rm -rf "$old"; done

echo "$target/classpath.txt"
