# One image for SageMaker training and hosting: `docker run IMAGE train` / `docker run IMAGE serve`.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS dependencies
# Build tools only in this stage: `strip` removes symbol tables from the wheels' native libraries (-12 MB);
# gcc builds the C record reader and tree scorer, against Debian's Python headers where the base image has none
# (the Debian-built stand-in; python:3.11-slim ships its own in /usr/local/include).
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
RUN python3 -m venv /opt/venv
COPY requirements/runtime.txt /tmp/runtime.txt
# Pinned dependencies, then what the image never runs: tests, installer tooling, symbol tables.
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/runtime.txt \
 && find /opt/venv -depth -type d \( -name tests -o -name test \) -path '*site-packages/*' -exec rm -rf {} + \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
 && rm -rf /opt/venv/share \
 && find /opt/venv -name '*.so' -type f -not -path '*.libs/*' -exec strip --strip-unneeded {} +
WORKDIR /opt/venv/lib/python3.11/site-packages
# Then what neither `train` nor `serve` imports or reads (checked against the modules both load):
# C/Cython sources, headers and static libraries (build-time only), type stubs, pytest conftests,
# numpy.distutils, the compiled test-only modules of numpy and scipy, scipy.odr (nothing uses it),
# sklearn's toy datasets (the packages stay: sklearn imports them), pip's install RECORDs, and code
# for libraries the image does not have: pandas' matplotlib backend (same ImportError without it),
# array_api_compat's torch/cupy/dask adapters, prettytable/wcwidth (only skops.card uses them),
# gunicorn's ASGI worker and dirty-worker arbiter (imported only when configured; we configure neither).
# Libraries vendored identically by numpy and scipy are kept once (a symlink); the *.libs stay
# unstripped (patchelf has moved their segments: strip would corrupt them). Bytecode is recompiled
# without column tables (PYTHONNODEBUGRANGES, -3 MB): tracebacks keep lines, lose the ^^^ markers.
RUN rm -rf numpy/distutils numpy/_core/include numpy/_core/lib numpy/random/lib scipy/odr \
      pandas/plotting/_matplotlib prettytable prettytable-*.dist-info wcwidth wcwidth-*.dist-info \
      scipy/_lib/array_api_compat/torch scipy/_lib/array_api_compat/cupy scipy/_lib/array_api_compat/dask \
      sklearn/externals/array_api_compat/torch sklearn/externals/array_api_compat/cupy \
      sklearn/externals/array_api_compat/dask gunicorn/asgi gunicorn/workers/gasgi.py gunicorn/dirty \
 && find sklearn/datasets/data sklearn/datasets/descr sklearn/datasets/images -type f \
      -not -name '*.py' -not -name '*.pyc' -delete \
 && find numpy/_core scipy/_lib scipy/integrate scipy/ndimage scipy/special -name '*.so' \( \
      -name '_simd.*' -o -name '_*_tests.*' -o -name '_test_*' -o -name '_ctest.*' -o -name '_cytest.*' \) -delete \
 && find . -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.pyi' \
      -o -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name 'conftest.py' \
      -o -path '*.dist-info/RECORD' \) -delete \
 && for lib in scipy.libs/*; do \
      if cmp -s "$lib" "numpy.libs/${lib#scipy.libs/}"; then ln -sf "../numpy.libs/${lib#scipy.libs/}" "$lib"; fi; \
    done \
 && find . -name '*.pyc' -delete \
 && PYTHONNODEBUGRANGES=1 /opt/venv/bin/python -m compileall -q -j 0 .

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
COPY --from=dependencies /opt/native/delaycast/_native_*.so /opt/delaycast/delaycast/
COPY train /opt/delaycast/train
COPY serve /opt/delaycast/serve
COPY container/entrypoint /opt/delaycast/container/entrypoint
RUN python3 -m compileall -q /opt/delaycast
WORKDIR /opt/delaycast
EXPOSE 8080
ENTRYPOINT ["/opt/delaycast/container/entrypoint"]
CMD ["serve"]
