#!/usr/bin/env bash
# Packs everything a GPU machine needs to run this project's GPU checks and benchmarks into .device/ at the
# repository root, for a machine that has a driver but no JDK, no Maven and no network:
#   .device/lib         the jar and its runtime dependencies        .device/test-classes   the compiled tests
#   .device/testlib     test-only dependencies                      .device/launcher       JUnit's console launcher
#   .device/jre.tar.xz  a small Java runtime made with jlink         .device/run.sh         bench/device/run.sh
#
#   bash bench/device/bundle.sh        # here, after 'mvn -B test' passes
#   then on the GPU machine, from the repository root:  bash bench/gpu-all.sh   (see bench/README-gpu.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dev=.device
if [ -d .git ] && ! grep -qxF '/.device/' .git/info/exclude 2>/dev/null; then echo '/.device/' >> .git/info/exclude; fi
rm -rf "$dev/lib" "$dev/testlib" "$dev/test-classes" "$dev/launcher"
mkdir -p "$dev/lib" "$dev/testlib" "$dev/launcher"

echo "== building the jar and the tests (not running them)"
mvn -B -q -DskipTests package
mvn -B -q dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dev/lib"
mvn -B -q dependency:copy-dependencies -DincludeScope=test -DoutputDirectory="$dev/testlib"
cp target/diffusion4j.jar "$dev/lib/"
cp -r target/test-classes "$dev/test-classes"
# test-only jars: not what the runtime set has already, nor JUnit's own (the console launcher brings those)
for j in "$dev"/testlib/*.jar; do
  b=$(basename "$j")
  if [ -e "$dev/lib/$b" ] || [[ "$b" =~ ^(junit-|opentest4j-|apiguardian-) ]]; then rm -f "$j"; fi
done

# the JUnit console launcher matching the project's JUnit Jupiter (platform 1.x for Jupiter 5.x)
jupiter=$(mvn -B -q dependency:list -DincludeScope=test -DoutputFile=/dev/stdout 2>/dev/null \
          | grep -o 'org.junit.jupiter:junit-jupiter-api:jar:[0-9.]*' | head -n1 | cut -d: -f4 || true)
case "$jupiter" in
  5.*) platform="1.${jupiter#5.}";;
  "") echo "could not read the JUnit Jupiter version from the build" >&2; exit 1;;
  *) platform="$jupiter";;
esac
mvn -B -q dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform" \
    -DoutputDirectory="$dev/launcher"

# a Java runtime with the modules the engine uses, rebuilt only when the JDK changes
jdk=$(java -version 2>&1 | head -n1)
if [ ! -f "$dev/jre.tar.xz" ] || [ "$(cat "$dev/jre.version" 2>/dev/null)" != "$jdk" ]; then
  echo "== jlink: a Java runtime from $jdk"
  work=$(mktemp -d)
  jlink --add-modules java.base,java.desktop,java.logging,java.management,jdk.unsupported,jdk.zipfs,jdk.incubator.vector \
        --strip-debug --no-header-files --no-man-pages --compress=2 --output "$work/jre"
  tar -C "$work" -cJf "$dev/jre.tar.xz" jre
  rm -rf "$work"
  echo "$jdk" > "$dev/jre.version"
fi
cp bench/device/run.sh "$dev/run.sh"
chmod +x "$dev/run.sh"
echo "== .device: $(du -sm "$dev" | cut -f1) MiB"
