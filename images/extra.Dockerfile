# The "extra" family: the languages added to pass fifty, each small, from Debian 13's packages: ksh,
# jq, zsh, fish, CoffeeScript, Brainfuck (beef), Raku (Rakudo), BASIC (yabasic), Verilog (Icarus),
# Objective-C (GCC's), Ada (GNAT), VHDL (GHDL), Haxe, Rexx (Regina), Pike and ALGOL 68 (Genie).
# In a family of their own so that adding them rebuilt no other family's layers.
# Built FROM the core sandbox image (Dockerfile.sandbox), so it shares its user (uid/gid 10001),
# its hardening and the supervisor's programs; images/harden.sh runs again after the install.
ARG CORE_IMAGE=aurea-sandbox:latest
FROM ${CORE_IMAGE}

USER root
# Build-time only: ARG, unlike ENV, leaves nothing behind in the environment programs see.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ksh jq zsh fish coffeescript beef rakudo yabasic iverilog gobjc gnat ghdl haxe regina-rexx pike8.0 algol68g \
      libc6-dev \
 && sh /usr/local/lib/aurea/harden.sh

LABEL dev.aurea.family="extra"
USER 10001:10001
WORKDIR /workspace
