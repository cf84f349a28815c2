#!/usr/bin/env bash
# Installs every Debian package sdlora's build and tests need. Idempotent: packages already
# present are left alone. Run as root (or with sudo) on Debian 12 or newer.
set -euo pipefail

PACKAGES=(
  build-essential          # gcc, make, libc headers
  pkg-config               # the Makefile finds every library through it
  libopenblas-openmp-dev   # BLAS: sgemm for linear, conv and attention (OpenMP build, shares our thread pool)
  libcjson-dev             # JSON: safetensors headers, diffusers config.json, kohya_ss GUI configs
  zlib1g-dev               # inflate the embedded CLIP vocabulary
  libutf8proc-dev          # Unicode categories, NFC, case mapping for the CLIP tokenizer
  libpng-dev               # PNG decode/encode (dataset images; sample images with A1111 "parameters" text)
  libjpeg62-turbo-dev      # JPEG decode/encode (libjpeg-turbo: SIMD, DCT-scaled decoding)
  libwebp-dev              # WebP decode/encode
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed: ${PACKAGES[*]}"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
