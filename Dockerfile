# syntax=docker/dockerfile:1
# The explainer sidecar as a static binary on distroless, running as a
# non-root user. Build (needs a Docker engine): docker build -t explainer:dev .

# Keep the Go version equal to go.mod's `go` line (.ci/check-deploy checks).
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags "-s -w" -o /out/explainer ./cmd/explainer

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/explainer /explainer
# 65532 is distroless's "nonroot". Numeric, so that Kubernetes'
# runAsNonRoot can verify it without a user database.
USER 65532:65532
EXPOSE 50051 9090
ENTRYPOINT ["/explainer"]
# Listens on every interface (a container's loopback is its own) and reaches
# a model server in the same pod on 127.0.0.1:8001 in plaintext. Any other
# arguments replace these: docker run explainer:dev serve --predictor ...
CMD ["serve", "--listen", "0.0.0.0:50051", "--predictor", "127.0.0.1:8001", "--predictor-plaintext"]
