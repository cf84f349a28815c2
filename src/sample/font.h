// font.h — a small embedded bitmap font (printable ASCII, 32..126) and text drawing onto an
// RGB Image, for the labels of comparison grids.
//
// Glyphs are 5×9 pixels (7 rows of capitals + 2 of descenders) on a 6×12 cell: one column of
// spacing, two rows above the capitals, one below the descenders. The glyphs are sdlora's own
// design (drawn as ASCII art in font.c). Text is drawn scaled by an integer factor (×2, ×3:
// 12×24 or 18×36 pixels a character) so labels stay readable next to 512-pixel images.
// Bytes outside 32..126 draw as '?', one per UTF-8 character (continuation bytes are skipped);
// a tab draws as a space.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "io/image.h"

#define FONT_GLYPH_W 5
#define FONT_GLYPH_H 9
#define FONT_CELL_W  6   // horizontal advance at scale 1
#define FONT_CELL_H  12  // line height at scale 1
#define FONT_TOP     2   // glyph row 0 sits this many pixels below the top of its cell

// Whether pixel (x, y) of the glyph for character c is set (x < FONT_GLYPH_W, y < FONT_GLYPH_H).
bool font_glyph_pixel(int c, int x, int y);
// Characters drawn for the first n bytes of s (UTF-8 aware).
size_t font_char_count(const char *s, size_t n);
// Width in pixels of the first n bytes of s on one line: chars·6·scale less the trailing
// spacing column (0 for no characters).
int64_t font_text_width(const char *s, size_t n, int scale);
static inline int64_t font_line_height(int scale) { return (int64_t)FONT_CELL_H * scale; }

// Draws n bytes of s with the top-left of the first cell at (x, y); clipped to the image.
void font_draw(Image *img, int64_t x, int64_t y, const char *s, size_t n, int scale, const uint8_t rgb[3]);

typedef struct {
    size_t start, len;   // a line: bytes [start, start + len) of the wrapped text
} FontLine;

// Word wrap into lines at most max_width pixels wide. Breaks at spaces (dropped) or after
// '/', '\\', '-', '_', ',' (kept: long file paths and tag lists wrap there); a word that fits
// nowhere is cut between characters; '\n' forces a break. Writes up to max_lines lines and
// returns how many the whole text needs.
size_t font_wrap(const char *s, int scale, int64_t max_width, FontLine *lines, size_t max_lines);

typedef enum { FONT_ALIGN_LEFT, FONT_ALIGN_CENTER } FontAlign;
// Wraps s into the box (x, y, w, h) and draws it centred vertically and aligned as asked.
// Lines that do not fit the height are dropped, the last one shown ending in "..".
// Returns the number of lines drawn.
size_t font_draw_box(Image *img, int64_t x, int64_t y, int64_t w, int64_t h, const char *s, int scale,
                     const uint8_t rgb[3], FontAlign align);
