# parley: multi-stage build on Debian 12. The runtime image holds the binary, its
# runtime libraries and the default config; data lives in the /data volume.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config libzmq3-dev libczmq-dev libcivetweb-dev \
        libmsgpack-dev libsqlite3-dev libpq-dev libjansson-dev libsodium-dev liburing-dev \
        libhiredis-dev libjemalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY include include
COPY src src
COPY actors actors
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DPARLEY_BENCH=OFF \
    && cmake --build build -j"$(nproc)"

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libzmq5 libczmq4 libcivetweb1 libmsgpackc2 libsqlite3-0 libpq5 libjansson4 libsodium23 \
        libhiredis0.14 libjemalloc2 \
        liburing2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data parley && mkdir -p /data && chown parley /data
COPY --from=build /src/build/parley /usr/local/bin/parley
COPY configs/parley.conf /etc/parley/parley.conf
USER parley
VOLUME /data
EXPOSE 8080
ENV PARLEY_CONFIG=/etc/parley/parley.conf PARLEY_DATA_DIR=/data
ENTRYPOINT ["/usr/local/bin/parley"]
