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
# The UI/API listens on every interface of the container, so it needs a token:
#   docker run -e HORNET_TOKEN=... -p 8089:8089 -v hornet-data:/data hornet
# (without one it refuses to start and says so). History lives in /data.
ENV HORNET_BIND=0.0.0.0:8089 HORNET_DB=/data/hornet.db
RUN mkdir -p /data
VOLUME /data
EXPOSE 8089 8090
ENTRYPOINT ["hornet"]
CMD ["serve"]
