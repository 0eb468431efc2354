# syntax=docker/dockerfile:1
# previewbot image: `previewbot serve` plus the Helm 4 CLI it drives.
#
#   docker build -t registry.example.com/platform/previewbot:$(git rev-parse HEAD) .
#
# Three stages: Helm built from source at the test bed's pinned version (the Go
# checksum database verifies every module), the previewbot wheel and its
# dependencies built as wheels, and a slim runtime with neither compilers nor pip
# caches, running as an unprivileged user.

# HELM_VERSION must equal tests/cluster/versions.env (a test checks it).
ARG HELM_VERSION=v4.3.1

FROM golang:1.26.8-trixie AS helm
ARG HELM_VERSION
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN go install -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}" \
      "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}" \
 && /go/bin/helm version --short

FROM python:3.13.7-slim-trixie AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.13.7-slim-trixie
ARG HELM_VERSION
LABEL org.opencontainers.image.title="previewbot" \
      org.opencontainers.image.description="Preview environments per GitLab merge request, steered from Slack" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 previewbot \
 && useradd --system --uid 10001 --gid previewbot --home-dir /tmp --shell /usr/sbin/nologin previewbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels previewbot \
 && rm -rf /wheels
COPY --from=helm /go/bin/helm /usr/local/bin/helm
WORKDIR /app
# The default chart of previewbot.yaml (`chart: ./charts/preview-app`).
COPY charts/preview-app ./charts/preview-app
# Everything that writes goes to /tmp, so the root filesystem can be read-only
# (the chart mounts an emptyDir there).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    HELM_CACHE_HOME=/tmp/helm/cache \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data \
    PREVIEWBOT_HELM=/usr/local/bin/helm \
    PREVIEWBOT_LOG_FORMAT=json \
    PREVIEWBOT_PORT=8080
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["previewbot"]
CMD ["serve"]
