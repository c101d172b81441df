# devd as an image: run it against a project mounted at /src, with the engine's socket mounted.
#
#   docker build -t devd:local .
#   docker run --rm -it -v "$PWD":/src -v /var/run/docker.sock:/var/run/docker.sock devd:local
#
# BASE is any image with python3 (>= 3.11) and its venv module. The build stage installs devd
# and its dependencies into /venv with pip, which reads its usual PIP_* variables: pass them as
# build arguments to use another index, or no index at all (scripts/build-image downloads the
# wheels into .wheels/ first and builds with PIP_NO_INDEX=1 PIP_FIND_LINKS=/build/.wheels).
# The final stage is BASE plus /venv: no pip, no build tools, no caches, no wheels.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# .dockerignore lets in only what the wheel is made of, the entrypoint, and .wheels/ if present.
COPY . /build
RUN python3 -m venv /venv \
    && /venv/bin/pip install /build \
    && install -m 0755 /build/image/entrypoint.py /venv/bin/devd \
    && /venv/bin/python -m pip uninstall --yes pip setuptools
# Marks this stage's image, which nothing needs after the build (scripts/build-image prunes it).
LABEL devd.image.stage=build

FROM ${BASE}
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
ENTRYPOINT ["devd"]
CMD ["up"]
