# trunkguard daemon image. Build: docker build -t trunkguard .
# Run:  docker run --network host -v /etc/trunkguard:/etc/trunkguard:ro -v trunkguard-data:/var/lib/trunkguard \
#         --env-file /etc/trunkguard/trunkguard.env trunkguard
# Host networking keeps the SIP probes' source address and ports what the carriers expect; the
# API listens on loopback by default (api.listen).
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY src ./src
# A regular install compiles the SIP hot path with mypyc (setup.py); TRUNKGUARD_PURE_PYTHON=1 skips it.
# The image can use a PostgreSQL store (several replicas): the postgres extra brings its driver.
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
RUN useradd --system --home /var/lib/trunkguard trunkguard && install -d -o trunkguard /var/lib/trunkguard
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'trunkguard[postgres]' && rm -rf /wheels
USER trunkguard
WORKDIR /var/lib/trunkguard
# The SQLite store (storage.url sqlite:////var/lib/trunkguard/trunkguard.db) lives here.
VOLUME ["/var/lib/trunkguard"]
# The API, dashboard and /metrics (api.listen; loopback by default: give 0.0.0.0:8080 with api.tls
# and tokens to reach it from outside the host).
EXPOSE 8080
# Liveness: the daemon's loop answers /healthz (no token needed). Point TRUNKGUARD_HEALTH_URL elsewhere
# when api.listen is not 127.0.0.1:8080; an https URL with a private CA needs SSL_CERT_FILE.
ENV TRUNKGUARD_HEALTH_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(os.environ['TRUNKGUARD_HEALTH_URL'], timeout=4)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["trunkguard"]
CMD ["run", "--config", "/etc/trunkguard/trunkguard.yaml"]
