# lookout in a container: built with the pinned dependencies (Cargo.lock), run as a non-root user.
# Configure it with LOOKOUT_* environment variables (see config/lookout.toml for every one) or
# mount a config file and pass --config. docker-compose.yml in this folder shows both in use.

FROM rust:1 AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin lookout \
    && install -m 0755 target/release/lookout /usr/local/bin/lookout

FROM debian:stable-slim
# ca-certificates: TLS to Elasticsearch. curl: the compose file's loader posts generated events
# with it (lookout itself never shells out).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/lookout --create-home \
        --shell /usr/sbin/nologin lookout
COPY --from=build /usr/local/bin/lookout /usr/local/bin/lookout
COPY config/ /etc/lookout/
COPY rules/ /usr/share/lookout/rules/
ENV LOOKOUT_RULES_FOLDERS=/usr/share/lookout/rules
USER lookout
WORKDIR /var/lib/lookout
ENTRYPOINT ["lookout"]
CMD ["run"]
