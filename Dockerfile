# Multi-stage build: a release binary on a slim Debian base.
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
# The UI/API port and the built-in demo target's port.
ENV HORNET_BIND=0.0.0.0:8089
EXPOSE 8089 8090
ENTRYPOINT ["hornet"]
