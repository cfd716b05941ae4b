# The manager image: a static binary on distroless, running as an unprivileged user.
# Build: make docker-build IMG=... (needs a container engine; CI builds it, not the test machines).

# Override GO_IMAGE to build from another registry, e.g. docker.io/library/golang:1.26
ARG GO_IMAGE=golang:1.26

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
# Module downloads are cached in their own layer, before the sources are copied.
COPY go.mod go.sum ./
RUN go mod download
# Only the packages the manager is built from (.dockerignore also keeps tests and everything else out).
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
# Cross-compile on the build platform for the target platform; CGO off gives a static binary.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o bin/manager ./cmd

# distroless/static: CA certificates, tzdata and /etc/passwd with the nonroot user (65532); no shell, no package manager.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/bin/manager /manager
# Numeric, so the kubelet can check runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["/manager"]
