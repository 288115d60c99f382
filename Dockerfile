# netweave image: the webhook (`netweave serve`), the node daemon (`netweave node`) and the certificate tool
# (`netweave certs`). Build from the repository root: docker build -t ghcr.io/netweave/netweave:0.1.0 .

# The static CNI shim that node-install copies to the host (docs/shim-protocol.md): same flags as `make shim`.
FROM debian:bookworm-slim AS shim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY cni/node/shim-static/netweave-shim.c /src/
RUN gcc -static -Os -s -std=gnu11 -Wall -Wextra -Werror -Wno-format-truncation -o /netweave-shim /src/netweave-shim.c

# Build stage: turn the source tree into a wheel, so the runtime image holds no build tools or sources.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY netweave ./netweave
COPY cni ./cni
COPY webhook ./webhook
COPY certs ./certs
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
COPY --from=shim /netweave-shim /usr/local/libexec/netweave/netweave-shim
# 65532 is the conventional "nonroot" id. /certs is created owned by it so that a fresh named volume mounted
# there (docker compose) inherits that owner and the non-root `netweave certs generate` can write into it.
RUN groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot \
    && install -d -o 65532 -g 65532 -m 0755 /certs
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["netweave"]
CMD ["--help"]
