# Two images from one build: `--target serve`, what an endpoint runs (`docker run IMAGE serve`, a model with its
# compiled archive), and the default, full image for SageMaker training and hosting (`docker run IMAGE train` /
# `serve`). Both start from a root file system of only this Python and the libraries it loads
# (container/build-rootfs); pip installs each package whole, and nothing inside a package is removed.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS dependencies
# Build tools only in this stage: gcc builds the C record reader and tree scorer, against Debian's Python headers
# where the base image has none (the Debian-built stand-in; python:3.11-slim ships its own in /usr/local/include).
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends binutils=2.40-2 gcc-12=12.2.0-14+deb12u1 \
      libc6-dev=2.36-9+deb12u14 >/dev/null \
 && { python3 -c 'import os, sysconfig; assert os.path.isfile(sysconfig.get_paths()["include"] + "/Python.h")' \
      || apt-get install -y -qq --no-install-recommends libpython3.11-dev=3.11.2-6+deb12u8 >/dev/null; } \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/native
COPY requirements/build.txt requirements/build.txt
COPY container/build-native container/build-native
COPY delaycast/_native_*.pyx delaycast/
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements/build.txt \
 && CC=gcc-12 container/build-native /opt/build/bin/python \
 && strip --strip-unneeded delaycast/_native_*.so
COPY requirements/runtime.txt requirements/serve.txt requirements/train.txt /tmp/requirements/
# The serving packages in a venv (pip and setuptools uninstalled: nothing runs them); the training packages
# beside it in their own directory, which only the full image adds to the path.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements/serve.txt \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
 && /opt/build/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --target /opt/train-packages \
      -r /tmp/requirements/train.txt
COPY container/build-rootfs /tmp/build-rootfs
RUN /tmp/build-rootfs /opt/rootfs /opt/venv /opt/train-packages /opt/native

FROM scratch AS serve
COPY --from=dependencies /opt/rootfs /
LABEL org.opencontainers.image.title="delaycast" \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
ENV PATH=/opt/venv/bin:/usr/bin:/bin \
    PYTHONPATH=/opt/delaycast \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DELAYCAST_IMAGE=serve
COPY --from=dependencies /opt/venv /opt/venv
COPY delaycast /opt/delaycast/delaycast
COPY --from=dependencies /opt/native/delaycast/_native_*.so /opt/delaycast/delaycast/
COPY serve /opt/delaycast/serve
COPY container/entrypoint /opt/delaycast/container/entrypoint
RUN ["/usr/bin/python3", "-m", "compileall", "-q", "/opt/delaycast"]
WORKDIR /opt/delaycast
EXPOSE 8080
ENTRYPOINT ["/opt/delaycast/container/entrypoint"]
CMD ["serve"]

FROM serve AS full
ENV PYTHONPATH=/opt/delaycast:/opt/train-packages \
    MPLCONFIGDIR=/tmp/matplotlib \
    DELAYCAST_IMAGE=full
COPY --from=dependencies /opt/train-packages /opt/train-packages
COPY train /opt/delaycast/train
RUN ["/usr/bin/python3", "-m", "compileall", "-q", "/opt/delaycast/train"]
