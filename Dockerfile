# One image for the four services: the Deployment's args name the module (`services.billing`,
# ...), run as `python -m <module>` by the entrypoint. deploy/k8s/README.md ("The image") says
# how it is built and what tests/deploy/test_image.py checks offline; it was never built on the
# machine it was written on (no container engine there).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml ./
COPY services services
COPY kontingent_cli kontingent_cli
COPY bench bench
COPY protos protos
# grpcio-tools (the dev extra's requirement) is resolved together with the package, so the
# stubs it generates suit the protobuf runtime that stays; it leaves once gen/ exists.
RUN pip install . "grpcio-tools>=1.60"
# gen/ exactly as the Makefile's `protos` target makes it, then the .pth its `install` target
# writes (the stubs import each other as top-level packages: events.v1, privacy.v1, ...).
# Compiled here because the running container cannot write __pycache__.
RUN rm -rf gen && mkdir -p gen \
    && python -m grpc_tools.protoc -I protos --python_out=gen --pyi_out=gen \
        --grpc_python_out=gen $(find protos -name '*.proto') \
    && find gen -type d -exec touch {}/__init__.py \; \
    && rm -f gen/__init__.py \
    && echo "/app/gen" > "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/kontingent-gen.pth" \
    && pip uninstall --yes grpcio-tools \
    && python -m compileall -q gen

FROM python:3.11-slim
# A passwd entry for the numeric user the Deployments run as (runAsUser 10001), and the data
# directory it owns for a container run without a volume there (deploy/k8s mounts an emptyDir).
RUN groupadd --system --gid 10001 kontingent \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin kontingent \
    && mkdir /data && chown 10001:10001 /data
# The same paths as in the build stage: the venv's scripts and the .pth name them.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/gen /app/gen
# PYTHONSAFEPATH: `python -m` would otherwise put the working directory first on sys.path.
# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only. DATA_DIR: faust's tables and the
# SQLite default go to the one writable directory (the ConfigMaps set the same).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONSAFEPATH=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data
WORKDIR /app
# Numeric, so that the kubelet can check runAsNonRoot against it.
USER 10001:10001
# Exec form: no shell in between, so SIGTERM reaches Python (the services' graceful stop).
ENTRYPOINT ["/opt/venv/bin/python", "-m"]
