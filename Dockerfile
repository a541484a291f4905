# The service's image: the Procfile's web line (gunicorn) by default; compose.yaml runs the mail worker
# from the same image. Build and run it where Docker exists (README, "Containers"). CI has no Docker
# engine: make lint runs hadolint over this file, and tests/test_container.py checks that it installs
# what make installs and starts what the Procfile starts.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000 \
    WEB_CONCURRENCY=2

WORKDIR /app

# What a deployment installs, pinned (the Makefile installs the same file); its own layer, so that a
# change of code does not reinstall the libraries.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .
# A user of its own, owning only data/: the database (DATABASE_PATH) and the trained models.
RUN groupadd --system --gid 10001 optout \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home optout \
    && mkdir -p data/models \
    && chown -R 10001:10001 data
# By number, so that a runtime that checks for a non-root user (runAsNonRoot) can tell.
USER 10001:10001
# Validate keywords.yaml and train its model now, into data/models, so that a container serves at
# once instead of training for minutes at its first start.
RUN flask --app app check-keywords

EXPOSE 8000
VOLUME ["/app/data"]
# The first start migrates the database before serving (the app is preloaded: handlers/gunicorn_config.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["sh", "-c", "exec gunicorn --bind ${BIND_ADDRESS:-0.0.0.0}:$PORT --workers ${WEB_CONCURRENCY:-2} --config python:handlers.gunicorn_config 'app:create_app()'"]
