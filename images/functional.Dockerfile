# The "functional" family: Haskell (GHC), OCaml, Erlang, Elixir, Racket, Scheme (Guile), Prolog (SWI) and Common Lisp (SBCL).
# Built FROM the core sandbox image (Dockerfile.sandbox), so it shares its user (uid/gid 10001),
# its hardening and the supervisor's programs; images/harden.sh runs again after the install.
ARG CORE_IMAGE=aurea-sandbox:latest
FROM ${CORE_IMAGE}

USER root
# Build-time only: ARG, unlike ENV, leaves nothing behind in the environment programs see.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ghc ocaml-nox erlang-nox elixir racket guile-3.0 swi-prolog-nox sbcl \
 && sh /usr/local/lib/aurea/harden.sh

LABEL dev.aurea.family="functional"
USER 10001:10001
WORKDIR /workspace
