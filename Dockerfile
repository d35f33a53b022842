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
WORKDIR /opt/venv/lib/python3.11/site-packages
# What neither `train` nor `serve` imports or reads (checked against sys.modules of both): C/Cython
# sources, headers and static libraries (build-time only), type stubs, pytest conftests, numpy.distutils,
# numpy's SIMD test module, scipy.odr (nothing uses it), sklearn's toy datasets (the packages stay:
# sklearn imports them), pandas' matplotlib plotting backend (matplotlib is not installed: same
# ImportError), pip's install RECORDs, and prettytable/wcwidth (only skops.card, model cards, uses them).
# Identical libraries vendored by both numpy and scipy are kept once (a symlink). The .so files in
# *.libs stay unstripped: patchelf has rewritten their segments, and strip would corrupt them.
# Bytecode is then recompiled without column tables (PYTHONNODEBUGRANGES): -3 MB; library tracebacks
# keep file and line but lose the ^^^ markers.
RUN rm -rf numpy/distutils numpy/_core/include numpy/_core/lib numpy/random/lib numpy/_core/_simd.*.so \
      scipy/odr pandas/plotting/_matplotlib \
      prettytable prettytable-*.dist-info wcwidth wcwidth-*.dist-info \
 && find sklearn/datasets/data sklearn/datasets/descr sklearn/datasets/images -type f \
      -not -name '*.py' -not -name '*.pyc' -delete \
 && find . -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.pyi' \
      -o -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name 'conftest.py' \
      -o -path '*.dist-info/RECORD' \) -delete \
 && for lib in scipy.libs/*; do \
      if cmp -s "$lib" "numpy.libs/${lib#scipy.libs/}"; then ln -sf "../numpy.libs/${lib#scipy.libs/}" "$lib"; fi; \
    done \
 && find . -name '*.pyc' -delete \
 && PYTHONNODEBUGRANGES=1 /opt/venv/bin/python -m compileall -q -j 0 . \
 && test "$(find . -name '*.py' | wc -l)" -eq "$(find . -name '*.pyc' | wc -l)"

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
