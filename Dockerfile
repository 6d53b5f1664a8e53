# trunkguard daemon image. Build: docker build -t trunkguard .
# Run:  docker run --network host -v /etc/trunkguard:/etc/trunkguard:ro -v trunkguard-data:/var/lib/trunkguard \
#         --env-file /etc/trunkguard/trunkguard.env trunkguard
# Host networking keeps the SIP probes' source address and ports what the carriers expect; the
# API listens on loopback by default (api.listen).
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# A regular install compiles the SIP hot path with mypyc (setup.py); TRUNKGUARD_PURE_PYTHON=1 skips it.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --home /var/lib/trunkguard trunkguard && install -d -o trunkguard /var/lib/trunkguard
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER trunkguard
WORKDIR /var/lib/trunkguard
STOPSIGNAL SIGTERM
ENTRYPOINT ["trunkguard"]
CMD ["run", "--config", "/etc/trunkguard/trunkguard.yaml"]
