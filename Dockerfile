# The worker image for docker-compose.yml (the local stack without Docker is `make demo`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY features ./features
COPY scorers ./scorers
COPY loaders ./loaders
COPY stream_app ./stream_app
RUN pip install --no-cache-dir .
# the bundled sample the worker's batch side is built from
COPY tests/fixtures/instacart ./sample
ENV STREAM_APP_STATE_DIR=/data/state \
    STREAM_APP_ARTIFACTS_DIR=/data/state/artifacts \
    STREAM_APP_WEB_HOST=0.0.0.0
VOLUME /data
EXPOSE 6066
CMD ["stream-app", "worker"]
