#!/usr/bin/env bash
# Installs the real services of the real stack into .tools/jvm (git-ignored), idempotently:
#   neo4j-lts      Neo4j Community 5.26 LTS jars + the launcher compiled for them (JDK 17)
#   neo4j-latest   Neo4j Community 2026.09 jars + the launcher compiled for them (JDK 25)
#   kafka          Apache Kafka 4.4 jars (kafka.Kafka, StorageTool) with a Log4j 2 binding
#   zipkin         the Zipkin 3.6 server with its UI: one executable jar (JDK 17)
# Each is resolved from Maven Central by `mvn dependency:build-classpath` on the pom.xml under
# fixtures/jvm/<name>, with Maven's repository in .tools/m2. A component is installed into a
# temporary folder and moved into place only when complete, with a stamp naming its inputs: an
# interrupted run leaves nothing that looks installed, and a changed pom or launcher reinstalls.
#
# Needs a JDK 17 (java, javac), Maven (mvn) and, for neo4j-latest, a JDK 25: $JAVA25_HOME, else
# the first /usr/lib/jvm/*25* with bin/javac. Exits non-zero with one line naming what is missing.
# Prints nothing when everything is installed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/fixtures/jvm"
dest="$root/.tools/jvm"

fail() { echo "jvm-tools: $*" >&2; exit 1; }

java_major() { # java executable -> major version
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -1
}

jdk17_home() {
  local javac
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/javac" ]]; then echo "$JAVA_HOME"; return; fi
  javac="$(command -v javac || true)"
  [[ -n "$javac" ]] || return 1
  dirname "$(dirname "$(readlink -f "$javac")")"
}

jdk25_home() {
  if [[ -n "${JAVA25_HOME:-}" ]]; then echo "$JAVA25_HOME"; return; fi
  local d
  for d in /usr/lib/jvm/*25*; do
    if [[ -x "$d/bin/javac" ]]; then echo "$d"; return; fi
  done
  return 1
}

missing=()
j17="$(jdk17_home || true)"
if [[ -z "$j17" || ! -x "$j17/bin/java" ]]; then
  missing+=("a JDK 17 or later (java and javac on PATH, or JAVA_HOME)")
fi
j25="$(jdk25_home || true)"
if [[ -z "$j25" || ! -x "$j25/bin/java" ]]; then
  missing+=("a JDK 25 for the newest Neo4j (JAVA25_HOME, or /usr/lib/jvm/*25*)")
fi
command -v mvn >/dev/null 2>&1 || missing+=("Maven (mvn on PATH)")
if ((${#missing[@]})); then
  fail "cannot install the real Neo4j and Kafka: missing $(IFS=';'; echo "${missing[*]}" | sed 's/;/, /g')"
fi
if (( $(java_major "$j17/bin/java" | cut -d. -f1) < 17 )); then
  fail "the JDK at $j17 is older than 17, which Neo4j 5.26 and Kafka 4.4 need"
fi
if (( $(java_major "$j25/bin/java" | cut -d. -f1) < 25 )); then
  fail "the JDK at $j25 is older than 25, which Neo4j 2025.10 and later need"
fi

mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9

stamp_of() { # component jdk_home -> the inputs that decide the installation
  local files=("$src/$1/pom.xml")
  [[ "$1" == neo4j-* ]] && files+=("$src/launcher/Neo4jLauncher.java")
  [[ "$1" == kafka ]] && files+=("$src/kafka-log4j2.properties")
  { cat "${files[@]}"; echo "$2"; } | sha256sum | cut -d' ' -f1
}

install_component() { # component jdk_home
  local name="$1" jdk="$2" final="$dest/$1" tmp="$dest/$1.partial" stamp
  stamp="$(stamp_of "$name" "$jdk")"
  if [[ -f "$final/stamp" && "$(cat "$final/stamp")" == "$stamp" ]]; then return 0; fi
  echo "tools: installing $name into .tools/jvm/$name (from Maven Central)" >&2
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! mvn -B -q -f "$src/$name/pom.xml" \
      -Dmaven.repo.local="$root/.tools/m2" \
      dependency:build-classpath -Dmdep.outputFile="$tmp/classpath" >"$tmp/mvn.log" 2>&1; then
    tail -20 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    fail "Maven could not resolve $name (fixtures/jvm/$name/pom.xml); see the lines above"
  fi
  if [[ "$name" == neo4j-* ]]; then
    mkdir -p "$tmp/classes"
    if ! "$jdk/bin/javac" -nowarn -d "$tmp/classes" -cp "$(cat "$tmp/classpath")" \
        "$src/launcher/Neo4jLauncher.java" 2>"$tmp/javac.log"; then
      cat "$tmp/javac.log" >&2
      rm -rf "$tmp"
      fail "the Neo4j launcher does not compile against $name"
    fi
  fi
  [[ "$name" == kafka ]] && cp "$src/kafka-log4j2.properties" "$tmp/log4j2.properties"
  echo "$jdk" > "$tmp/java_home"
  echo "$stamp" > "$tmp/stamp"
  rm -rf "$final"
  mv "$tmp" "$final"
}

install_component neo4j-lts "$j17"
install_component neo4j-latest "$j25"
install_component kafka "$j17"
install_component zipkin "$j17"
