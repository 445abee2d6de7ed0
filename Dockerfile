# syntax=docker/dockerfile:1
# q2o: one image for `q2o api`, `q2o worker`, `q2o all` and `q2o migrate`.
# The final stage has python3 because workers run main.py (examples/main.py
# is the sample; mount or copy the real one and set Q2O_RUNNER to use it).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/q2o ./cmd/q2o

FROM python:3.12-slim
# q2o runs the API (and, as root, the worker); q2o-run is the unprivileged
# user main.py runs as inside the worker's sandbox (Q2O_RUNNER_USER).
RUN groupadd --system --gid 10001 q2o \
    && useradd --system --uid 10001 --gid q2o --create-home --home-dir /home/q2o q2o \
    && groupadd --system --gid 10002 q2o-run \
    && useradd --system --uid 10002 --gid q2o-run --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin q2o-run \
    && mkdir -p /data/Tenant_Projects \
    && chown q2o:q2o /data/Tenant_Projects
WORKDIR /app
COPY --from=build /out/q2o /app/q2o
COPY examples/ /app/examples/
ENV Q2O_HTTP_ADDR=:8080 \
    Q2O_OUTPUT_ROOT=/data/Tenant_Projects \
    Q2O_RUNNER="python3 /app/examples/main.py" \
    Q2O_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Shared by the API (folders, zips for download) and every worker (main.py's output).
VOLUME ["/data/Tenant_Projects"]
# The API runs as q2o. A worker sandboxes main.py (namespaces, mounts, a
# switch to q2o-run), which needs root with CAP_SYS_ADMIN: run the worker
# container as user 0 with `cap_add: [SYS_ADMIN]` and AppArmor unconfined
# (docker-compose.yml does), or set Q2O_SANDBOX=off to run main.py unconfined.
USER q2o
EXPOSE 8080
ENTRYPOINT ["/app/q2o"]
CMD ["all"]
