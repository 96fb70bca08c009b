# syntax=docker/dockerfile:1
# Build: a static binary (CGO off), version stamped in.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/leadsync ./cmd/leadsync \
 && mkdir -p /out/data

# Run: distroless, non-root, read-only root filesystem friendly. The state
# lives on a volume; time zone data is embedded in the binary (time/tzdata)
# and also present in the base image.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/leadsync /usr/local/bin/leadsync
COPY --from=build --chown=65532:65532 /out/data /data
COPY config.example.yaml /etc/leadsync/config.example.yaml
ENV LEADSYNC_STATE_PATH=/data/leadsync.db \
    LEADSYNC_LISTEN=0.0.0.0:9464 \
    LEADSYNC_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 9464
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/leadsync", "healthcheck", "--url", "http://127.0.0.1:9464/readyz"]
ENTRYPOINT ["/usr/local/bin/leadsync"]
CMD ["run", "--config", "/etc/leadsync/config.yaml"]
