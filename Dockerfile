# One image for SageMaker training and hosting: `docker run IMAGE train` / `docker run IMAGE serve`.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS dependencies
# binutils only in this stage: `strip` removes symbol tables from the wheels' native libraries (-12 MB).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils=2.40-2 >/dev/null \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
COPY requirements/runtime.txt /tmp/runtime.txt
# Pinned dependencies, then what the image never runs: tests, installer tooling, symbol tables.
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/runtime.txt \
 && find /opt/venv -depth -type d \( -name tests -o -name test \) -path '*site-packages/*' -exec rm -rf {} + \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
 && rm -rf /opt/venv/share \
 && find /opt/venv -name '*.so' -type f -not -path '*.libs/*' -exec strip --strip-unneeded {} +

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="delaycast" \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/delaycast \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
COPY --from=dependencies /opt/venv /opt/venv
COPY delaycast /opt/delaycast/delaycast
COPY train /opt/delaycast/train
COPY serve /opt/delaycast/serve
COPY container/entrypoint /opt/delaycast/container/entrypoint
RUN python3 -m compileall -q /opt/delaycast
WORKDIR /opt/delaycast
EXPOSE 8080
ENTRYPOINT ["/opt/delaycast/container/entrypoint"]
CMD ["serve"]
