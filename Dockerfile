# diffusion4j with the CUDA backend: CUDA 13 + cuDNN 9 runtime image, built from source in a build stage.
#
#   docker build -t diffusion4j .
#   docker run --rm --gpus all -v "$PWD/runs:/runs" diffusion4j info
#   docker run --rm --gpus all -v "$PWD/runs:/runs" diffusion4j train ...
#   docker run --rm --gpus all --ipc=host -v "$PWD/runs:/runs" --entrypoint mpirun diffusion4j \
#       --allow-run-as-root -np 8 d4j train --batch-size 1024      (data-parallel: one rank per GPU)
#
# The driver (libcuda.so.1) comes from the host through the NVIDIA container toolkit (--gpus); cuDNN 9 and cuBLAS 13
# come from the image, and so do NCCL (libnccl2, from the CUDA repository the image is set up with) and Open MPI for
# data-parallel runs. Without a GPU the same image runs on the CPU backend.

# ---------------------------------------------------------------- build: nvcc (kernels -> fatbin), gcc + JDK (JNI shim)
FROM nvidia/cuda:13.0.0-cudnn-devel-ubuntu24.04 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openjdk-17-jdk-headless maven cmake make gcc \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
WORKDIR /src
# dependencies first, so that source edits do not download them again
COPY pom.xml .
RUN mvn -B -q dependency:go-offline || true
COPY CMakeLists.txt ./
COPY kernels kernels
COPY native native
COPY src src
# (-Dd4j.cuda.emu=OFF: the CPU emulation of CUDA is for tests on machines without a GPU only)
RUN mvn -B -q package -DskipTests -Dd4j.cuda.emu=OFF \
 && test -f target/classes/io/github/diffusion4j/native/diffusion4j.fatbin \
 && test -f target/classes/io/github/diffusion4j/native/libdiffusion4j_native.so

# ---------------------------------------------------------------- runtime: cuDNN 9 + cuBLAS from the CUDA runtime image
FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
      openmpi-bin libnccl2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/diffusion4j.jar /opt/diffusion4j/diffusion4j.jar
# 'd4j' for mpirun to start as each rank
RUN printf '#!/bin/sh\nexec java --add-modules jdk.incubator.vector -jar /opt/diffusion4j/diffusion4j.jar "$@"\n' \
      > /usr/local/bin/d4j && chmod +x /usr/local/bin/d4j
VOLUME /runs
WORKDIR /runs
ENTRYPOINT ["d4j"]
CMD ["info"]
