# Dockerfile - r1 serve in a container: Debian 12 slim, built in a first
# stage, run as a non-root user with only the runtime libraries; the model
# is mounted read-only at /models. docs/OPERATIONS.md ("Containers").
#
#   docker build -t r1:latest .
#   docker run --rm -p 8080:8080 -v /srv/models:/models:ro \
#       -e R1_MODEL=/models/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf r1:latest
#
# Settings come from R1_* environment variables (docs/SERVER.md): R1_MODEL,
# R1_PARALLEL, R1_CTX_SIZE, R1_THREADS, R1_DRAIN_TIMEOUT, ...; speech
# recognition with R1_WHISPER_MODEL=/models/ggml-base.bin (docs/ASR.md).
# Stop with `docker stop -t 90` (or stop_grace_period in compose): longer
# than --drain-timeout, so running streams finish (SIGTERM drains).
#
# Not built on the project's build machines (no Docker engine there):
# tests/ha/test_deploy_files.sh checks its structure and that every runtime
# library the r1 binary links is in the runtime stage's package list;
# docs/OPERATIONS.md says what was and was not exercised.

# ---- build ----
FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config git ca-certificates libcmocka-dev \
      libjansson-dev libpcre2-dev libutf8proc-dev libmicrohttpd-dev libinih-dev \
      libcurl4-openssl-dev libcjose-dev libsqlite3-dev libssl-dev libgnutls28-dev \
      libsndfile1-dev libvorbis-dev libogg-dev libseccomp-dev libsamplerate0-dev libkissfft-dev \
      libespeak-ng-dev portaudio19-dev libasound2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY include ./include
COPY src ./src
COPY tests ./tests
COPY fuzz ./fuzz
# The test data is not needed to build the program (CMake only records its
# path). SIMD kernels are chosen at run time (__builtin_cpu_supports), so
# one image serves AVX2 and AVX-512 hosts.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target r1 r1-tts-worker r1-audio-decoder \
 && strip /build/r1 /build/r1-tts-worker /build/r1-audio-decoder

# ---- runtime ----
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libjansson4 libpcre2-8-0 libutf8proc2 libmicrohttpd12 libinih1 libcurl4 \
      libcjose0 libsqlite3-0 libssl3 libgnutls30 libsndfile1 libvorbis0a libogg0 libseccomp2 libsamplerate0 \
      libkissfft-float131 libportaudio2 libasound2 libespeak-ng1 espeak-ng-data \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/r1 --create-home --shell /usr/sbin/nologin r1
COPY --from=build /build/r1 /build/r1-tts-worker /build/r1-audio-decoder /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/r1
# the model store, mounted read-only (docker run -v /srv/models:/models:ro)
VOLUME ["/models"]
ENV R1_HOST=0.0.0.0 \
    R1_PORT=8080 \
    R1_METRICS_PORT=9090 \
    R1_LOG_FORMAT=json \
    R1_DRAIN_TIMEOUT=60
EXPOSE 8080 9090
# /ready: 503 while the model loads, while draining and with a full queue;
# the start period covers loading a large model
HEALTHCHECK --interval=5s --timeout=3s --start-period=600s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/ready || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/r1", "serve"]
