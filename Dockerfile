# syntax=docker/dockerfile:1
# A small non-root image of the atalaya binary. Model files are not baked in: mount them
# (deploy/helm: models.existingClaim at /models).
#   docker build -t atalaya:0.1.0 .

FROM rust:1.92-bookworm AS build
# llama.cpp is built from source (cmake, libclang for its bindings).
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin atalaya \
 && objcopy --strip-debug target/release/atalaya /usr/local/bin/atalaya

FROM debian:bookworm-slim
# libgomp: llama.cpp's OpenMP threads; ca-certificates: TLS to providers, Postgres, Redis.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 atalaya \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin atalaya \
 && mkdir -p /var/lib/atalaya /etc/atalaya \
 && chown 10001:10001 /var/lib/atalaya
COPY --from=build /usr/local/bin/atalaya /usr/local/bin/atalaya
USER 10001:10001
ENV ATALAYA__SERVER__LISTEN=0.0.0.0:8080 \
    ATALAYA__SERVER__DATA_DIR=/var/lib/atalaya
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/atalaya"]
CMD ["serve", "--config", "/etc/atalaya/atalaya.toml"]
