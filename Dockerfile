# Multi-stage build: a release binary on a slim Debian base. One image runs every part of a
# test: `hornet serve` (the default: the UI, the API and, for a distributed test, the
# coordinator) and `hornet agent ...` (a load generator that dials a coordinator; `hornet k8s
# manifest` runs the same image as both, see the README).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin hornet

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/hornet /usr/local/bin/hornet
COPY plans /app/plans
WORKDIR /app
# The UI/API listens on every interface of the container, so it needs a token:
#   docker run -e HORNET_TOKEN=... -p 8089:8089 -v hornet-data:/data hornet
# (without one it refuses to start and says so). History lives in /data.
# An agent: docker run -e HORNET_AGENT_TOKEN=... hornet agent --coordinator ws://HOST:8089/api/agents
#   --index 0 --count 1 (HORNET_BIND and HORNET_DB below are settings of `serve`).
ENV HORNET_BIND=0.0.0.0:8089 HORNET_DB=/data/hornet.db
RUN mkdir -p /data
VOLUME /data
EXPOSE 8089 8090
# `hornet` is the entrypoint: the arguments choose the part (`serve` unless told otherwise).
ENTRYPOINT ["hornet"]
CMD ["serve"]
