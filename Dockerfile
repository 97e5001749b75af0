# syntax=docker/dockerfile:1
# filinglake on the official Airflow image: the locked dependency set from uv.lock plus the project
# itself (include/filinglake, dags/, plugins/). Built by docker-compose.yml; same Python as dev and CI.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

ARG UV_VERSION=0.13.9
USER airflow
WORKDIR /opt/airflow

# Dependencies first, so this layer is reused until uv.lock changes. uv only turns the lock into a
# pinned requirements list; pip installs it into the image's Airflow environment (the documented way
# to extend the image), with apache-airflow pinned so nothing can move Airflow itself.
COPY --chown=airflow:0 pyproject.toml uv.lock ./
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && uv export --frozen --no-dev --no-emit-project --no-hashes --quiet -o /tmp/requirements.lock.txt \
    && pip install --no-cache-dir "apache-airflow==3.3.2" -r /tmp/requirements.lock.txt \
    && rm /tmp/requirements.lock.txt

# The project, installed editable: docker-compose.yml mounts the checkout's include/, dags/ and
# plugins/ over these copies, so code edits show up without a rebuild.
# .dockerignore lets only README.md, include/, dags/ and plugins/ (and the files above) through.
COPY --chown=airflow:0 . ./
RUN pip install --no-cache-dir --no-deps -e . \
    && mkdir -p /opt/airflow/auth /opt/airflow/dags /opt/airflow/plugins

ENV PYTHONPATH=/opt/airflow/include
