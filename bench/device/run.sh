#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .device/ made by bench/device/bundle.sh:
#   bash .device/run.sh tests [JUnit console options]     e.g. --include-tag gpu
#   bash .device/run.sh java  <main class> [args...]
#   bash .device/run.sh sh    '<shell line>'              (java on PATH, CLASSPATH set)
# Prints the GPU, the Java runtime and where the CUDA libraries were found; everything printed is also appended to
# $OUT/run.log when OUT is set.
set -uo pipefail
dev=$(cd "$(dirname "$0")" && pwd)
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; exec > >(tee -a "$OUT/run.log") 2>&1; fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "(no nvidia-smi)"
# Java: one already installed if it is 17 or newer, else the bundled runtime
if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])'; then
  jre=${TMPDIR:-/tmp}/diffusion4j-jre
  [ -x "$jre/jre/bin/java" ] || { mkdir -p "$jre" && tar -xJf "$dev/jre.tar.xz" -C "$jre"; }
  export PATH="$jre/jre/bin:$PATH"
fi
java -version 2>&1 | head -n1
# the NVIDIA libraries where this image keeps them (system folders, CUDA toolkits, Python wheels)
dirs=""
while IFS= read -r f; do
  d=$(dirname "$f")
  case ":$dirs:" in *":$d:"*) ;; *) dirs="$dirs:$d";; esac
done < <(find /usr/local/nvidia /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/lib/x86_64-linux-gnu /opt \
              /usr/local/lib /usr/lib/python3* -maxdepth 9 \( -name 'libcuda.so.1' -o -name 'libcudnn.so.*' \
              -o -name 'libcublas.so.*' -o -name 'libcublasLt.so.*' -o -name 'libnccl.so.*' \) 2>/dev/null)
export LD_LIBRARY_PATH="${dirs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

cp=$(ls "$dev"/lib/*.jar "$dev"/testlib/*.jar 2>/dev/null | paste -sd: -)
mode=${1:-tests}; shift || true
case "$mode" in
  tests) java -jar "$dev"/launcher/junit-platform-console-standalone-*.jar execute --class-path "$dev/test-classes:$cp" \
           --scan-class-path "$dev/test-classes" --details=tree --disable-banner "$@" ;;
  java)  java -cp "$cp" "$@" ;;
  sh)    CLASSPATH="$cp" bash -c "$*" ;;
  *)     echo "usage: run.sh tests|java|sh ..." >&2; exit 2 ;;
esac
