// exif.h — the one EXIF fact sdlora needs: the Orientation tag (0x0112) of IFD0.
//
// We parse it ourselves instead of linking libexif: it is one SHORT in the first directory of
// a TIFF structure, about 60 lines with bounds checks, and image_info must find it from the
// few header bytes it reads anyway (JPEG APP1, PNG eXIf, WebP EXIF chunk).
#pragma once
#include <stddef.h>
#include <stdint.h>

// `tiff` points at a TIFF header ("II*\0" or "MM\0*"), optionally preceded by "Exif\0\0"
// (JPEG APP1 payloads and some WebP EXIF chunks carry that prefix). Returns the
// orientation 1..8, or 1 when the block is malformed, lacks the tag or holds another value
// (a damaged EXIF block must not make an otherwise fine image fail).
int exif_orientation(const uint8_t *tiff, size_t size);
