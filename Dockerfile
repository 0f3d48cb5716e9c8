# duanka worker image: `docker build -t duanka .`, then `docker run duanka worker`.
# Wheel stage: duanka's one abi3 wheel, its native core (native/) compiled by maturin with
# the Rust toolchain of the official image; users of the wheel need no compiler.
FROM python:3.11.7-slim-bookworm AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
COPY --from=rust:1.88.0-slim-bookworm /usr/local/cargo /usr/local/cargo
COPY --from=rust:1.88.0-slim-bookworm /usr/local/rustup /usr/local/rustup
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && pip install maturin==1.16.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY duanka ./duanka
COPY native ./native
RUN maturin build --release --locked --out /wheels

# Build stage: install the locked runtime dependencies and the wheel into a virtualenv.
FROM python:3.11.7-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/duanka
COPY requirements-runtime.lock ./
RUN /opt/duanka/bin/pip install --require-hashes --only-binary=:all: -r requirements-runtime.lock
COPY --from=wheel /wheels /wheels
RUN /opt/duanka/bin/pip install --no-deps /wheels/duanka-*.whl \
    && /opt/duanka/bin/duanka --help > /dev/null

# Final stage: the virtualenv only; no compilers, no build tools, a non-root user.
FROM python:3.11.7-slim-bookworm
LABEL org.opencontainers.image.title="duanka" \
      org.opencontainers.image.description="Streaming detection of SIM-card and bank-account supply to fraud gangs" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 duanka \
    && useradd --system --uid 10001 --gid duanka --home-dir /var/lib/duanka --create-home duanka
COPY --from=build /opt/duanka /opt/duanka
ENV PATH=/opt/duanka/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DUANKA_DATA_DIR=/var/lib/duanka \
    DUANKA_WEB_PORT=6066
USER 10001:10001
WORKDIR /var/lib/duanka
VOLUME ["/var/lib/duanka"]
EXPOSE 6066
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DUANKA_WEB_PORT', '6066'), timeout=5)"]
ENTRYPOINT ["duanka"]
CMD ["worker"]
