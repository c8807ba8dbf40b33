# syntax=docker/dockerfile:1
# One image for every citriage process: `citriage web`, `worker`, `scheduler`, `migrate`
# (see compose.yaml). The C extension (the log stripper's hot loops) is built in a first
# stage with the compiler; the final image carries only the installed virtualenv.
FROM python:3.11-slim-bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY citriage ./citriage
RUN python -m venv /opt/citriage \
    && /opt/citriage/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
RUN useradd --system --create-home --uid 10001 citriage \
    && mkdir -p /var/lib/citriage/metrics \
    && chown -R citriage /var/lib/citriage
COPY --from=build /opt/citriage /opt/citriage
ENV PATH=/opt/citriage/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CITRIAGE_DATA_DIR=/var/lib/citriage \
    CITRIAGE_METRICS_DIR=/var/lib/citriage/metrics
USER 10001
WORKDIR /var/lib/citriage
EXPOSE 8000
# The web server's check; compose.yaml gives workers and the scheduler their own.
HEALTHCHECK --interval=30s --timeout=20s --start-period=30s --retries=3 \
    CMD ["citriage", "check", "--no-queue", "--url", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["citriage"]
CMD ["web", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
