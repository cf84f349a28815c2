// font.c — the embedded 5×9 bitmap font and its text drawing (see font.h).
//
// The glyphs below are sdlora's own design, drawn for this file as ASCII art ('#' = ink):
// twelve characters to a band, nine rows each; rows 0-6 hold capitals and digits, lower case
// has its x-height in rows 2-6 and descenders in rows 7-8. Reading the art directly keeps the
// font editable by eye and needs no start-up decoding.
#include "sample/font.h"
#include <string.h>

#define BAND 12  // characters per band of the art

static const char *const font_art[] = {
    // ' '   '!'   '"'   '#'   '$'   '%'   '&'   '\''  '('   ')'   '*'   '+'
    "..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... .....",
    "..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#..",
    "..... ..#.. .#.#. ##### #.#.. ...#. #.#.. .#... .#... ...#. #.#.# ..#..",
    "..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. #####",
    "..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#..",
    "..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#..",
    "..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // ','   '-'   '.'   '/'   '0'   '1'   '2'   '3'   '4'   '5'   '6'   '7'
    "..... ..... ..... ..... .###. ..#.. .###. ##### ...#. ##### ..##. #####",
    "..... ..... ..... ....# #...# .##.. #...# ...#. ..##. #.... .#... ....#",
    "..... ..... ..... ...#. #..## ..#.. ....# ..#.. .#.#. ####. #.... ...#.",
    "..... ##### ..... ..#.. #.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#..",
    "..... ..... ..... .#... ##..# ..#.. ..#.. ....# ##### ....# #...# .#...",
    ".##.. ..... .##.. #.... #...# ..#.. .#... #...# ...#. #...# #...# .#...",
    "..#.. ..... .##.. ..... .###. .###. ##### .###. ...#. .###. .###. .#...",
    ".#... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // '8'   '9'   ':'   ';'   '<'   '='   '>'   '?'   '@'   'A'   'B'   'C'
    ".###. .###. ..... ..... ...#. ..... .#... .###. .###. .###. ####. .###.",
    "#...# #...# .##.. .##.. ..#.. ..... ..#.. #...# #...# #...# #...# #...#",
    "#...# #...# .##.. .##.. .#... ##### ...#. ....# ....# #...# #...# #....",
    ".###. .#### ..... ..... #.... ..... ....# ...#. .##.# ##### ####. #....",
    "#...# ....# .##.. .##.. .#... ##### ...#. ..#.. #.#.# #...# #...# #....",
    "#...# ...#. .##.. ..#.. ..#.. ..... ..#.. ..... #.#.# #...# #...# #...#",
    ".###. .##.. ..... .#... ...#. ..... .#... ..#.. .###. #...# ####. .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // 'D'   'E'   'F'   'G'   'H'   'I'   'J'   'K'   'L'   'M'   'N'   'O'
    "###.. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.",
    "#..#. #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## #...# #...#",
    "#...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#",
    "#...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#",
    "#...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#",
    "#..#. #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#",
    "###.. ##### #.... .#### #...# .###. .##.. #...# ##### #...# #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // 'P'   'Q'   'R'   'S'   'T'   'U'   'V'   'W'   'X'   'Y'   'Z'   '['
    "####. .###. ####. .#### ##### #...# #...# #...# #...# #...# ##### .###.",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....# .#...",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#...",
    "####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#...",
    "#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#...",
    "#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #.... .#...",
    "#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. ##### .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // '\\'  ']'   '^'   '_'   '`'   'a'   'b'   'c'   'd'   'e'   'f'   'g'
    "..... .###. ..#.. ..... .#... ..... #.... ..... ....# ..... ..##. .....",
    "#.... ...#. .#.#. ..... ..#.. ..... #.... ..... ....# ..... .#..# .....",
    ".#... ...#. #...# ..... ...#. .###. #.##. .###. .##.# .###. .#... .####",
    "..#.. ...#. ..... ..... ..... ....# ##..# #.... #..## #...# ###.. #...#",
    "...#. ...#. ..... ..... ..... .#### #...# #.... #...# ##### .#... #...#",
    "....# ...#. ..... ..... ..... #...# #...# #...# #...# #.... .#... #...#",
    "..... .###. ..... ..... ..... .#### ####. .###. .#### .###. .#... .####",
    "..... ..... ..... ##### ..... ..... ..... ..... ..... ..... ..... ....#",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .###.",
    // 'h'   'i'   'j'   'k'   'l'   'm'   'n'   'o'   'p'   'q'   'r'   's'
    "#.... ..#.. ...#. #.... .##.. ..... ..... ..... ..... ..... ..... .....",
    "#.... ..... ..... #.... ..#.. ..... ..... ..... ..... ..... ..... .....",
    "#.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###. ####. .#### #.##. .####",
    "##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...# #...# #...# ##..# #....",
    "#...# ..#.. ...#. ##... ..#.. #.#.# #...# #...# #...# #...# #.... .###.",
    "#...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...# #...# #...# #.... ....#",
    "#...# .###. ...#. #..#. .###. #.#.# #...# .###. ####. .#### #.... ####.",
    "..... ..... #..#. ..... ..... ..... ..... ..... #.... ....# ..... .....",
    "..... ..... .##.. ..... ..... ..... ..... ..... #.... ....# ..... .....",
    // 't'   'u'   'v'   'w'   'x'   'y'   'z'   '{'   '|'   '}'   '~'
    ".#... ..... ..... ..... ..... ..... ..... ...#. ..#.. .#... .....",
    ".#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. .....",
    "###.. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#...",
    ".#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.#",
    ".#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#.",
    ".#..# #..## .#.#. #.#.# .#.#. #...# .#... ..#.. ..#.. ..#.. .....",
    "..##. .##.# ..#.. .#.#. #...# .#### ##### ...#. ..#.. .#... .....",
    "..... ..... ..... ..... ..... ....# ..... ..... ..#.. ..... .....",
    "..... ..... ..... ..... ..... .###. ..... ..... ..... ..... .....",
};

bool font_glyph_pixel(int c, int x, int y) {
    if (c < 32 || c > 126) c = '?';
    if (x < 0 || x >= FONT_GLYPH_W || y < 0 || y >= FONT_GLYPH_H) return false;
    int i = c - 32;
    return font_art[(i / BAND) * FONT_GLYPH_H + y][(i % BAND) * (FONT_GLYPH_W + 1) + x] == '#';
}

// Bytes of the UTF-8 character starting at s[0] (at least 1, at most what is left).
static size_t char_len(const char *s, size_t left) {
    size_t k = 1;
    if ((unsigned char)s[0] >= 0xC0)
        while (k < left && k < 4 && ((unsigned char)s[k] & 0xC0) == 0x80) k++;
    return k;
}

size_t font_char_count(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i += char_len(s + i, n - i)) count++;
    return count;
}

int64_t font_text_width(const char *s, size_t n, int scale) {
    size_t chars = font_char_count(s, n);
    return chars ? ((int64_t)chars * FONT_CELL_W - 1) * scale : 0;
}

static void draw_glyph(Image *img, int64_t x0, int64_t y0, int c, int scale, const uint8_t rgb[3]) {
    for (int gy = 0; gy < FONT_GLYPH_H; gy++)
        for (int gx = 0; gx < FONT_GLYPH_W; gx++) {
            if (!font_glyph_pixel(c, gx, gy)) continue;
            for (int sy = 0; sy < scale; sy++) {
                int64_t y = y0 + (int64_t)(FONT_TOP + gy) * scale + sy;
                if (y < 0 || y >= img->height) continue;
                for (int sx = 0; sx < scale; sx++) {
                    int64_t x = x0 + (int64_t)gx * scale + sx;
                    if (x < 0 || x >= img->width) continue;
                    memcpy(img->rgb + (y * img->width + x) * 3, rgb, 3);
                }
            }
        }
}

void font_draw(Image *img, int64_t x, int64_t y, const char *s, size_t n, int scale, const uint8_t rgb[3]) {
    for (size_t i = 0; i < n;) {
        size_t k = char_len(s + i, n - i);
        int c = k > 1 ? '?' : (unsigned char)s[i];
        if (c == '\t') c = ' ';
        if (c != ' ') draw_glyph(img, x, y, c, scale, rgb);
        x += (int64_t)FONT_CELL_W * scale;
        i += k;
    }
}

static bool break_after(char c) { return c == '/' || c == '\\' || c == '-' || c == '_' || c == ','; }

size_t font_wrap(const char *s, int scale, int64_t max_width, FontLine *lines, size_t max_lines) {
    size_t n = strlen(s), count = 0;
    int64_t cell = (int64_t)FONT_CELL_W * scale;
    int64_t max_chars = (max_width + scale) / cell; // width of k chars: k·cell − scale
    if (max_chars < 1) max_chars = 1;
    size_t pos = 0;
    while (pos < n) {
        while (pos < n && s[pos] == ' ') pos++; // a wrapped line starts at a word
        if (pos >= n) break;
        size_t i = pos, end = n, next = n, brk_end = 0, brk_next = 0;
        int64_t chars = 0;
        bool have_brk = false;
        while (i < n) {
            if (s[i] == '\n') { end = i; next = i + 1; break; }
            if (chars == max_chars) {
                if (s[i] == ' ') { end = i; next = i + 1; }
                else if (have_brk) { end = brk_end; next = brk_next; }
                else { end = i; next = i; }
                break;
            }
            if (s[i] == ' ') { brk_end = i; brk_next = i + 1; have_brk = true; }
            size_t k = char_len(s + i, n - i);
            bool after = k == 1 && break_after(s[i]);
            i += k;
            chars++;
            if (after) { brk_end = i; brk_next = i; have_brk = true; }
        }
        while (end > pos && s[end - 1] == ' ') end--;
        if (count < max_lines) lines[count] = (FontLine){pos, end - pos};
        count++;
        pos = next;
    }
    return count;
}

size_t font_draw_box(Image *img, int64_t x, int64_t y, int64_t w, int64_t h, const char *s, int scale,
                     const uint8_t rgb[3], FontAlign align) {
    enum { MAX_LINES = 64 };
    FontLine lines[MAX_LINES];
    size_t need = font_wrap(s, scale, w, lines, MAX_LINES);
    int64_t lh = font_line_height(scale);
    size_t fit = (size_t)(h / lh);
    if (fit > MAX_LINES) fit = MAX_LINES;
    size_t shown = need < fit ? need : fit;
    int64_t top = y + (h - (int64_t)shown * lh) / 2;
    for (size_t l = 0; l < shown; l++) {
        const char *t = s + lines[l].start;
        size_t len = lines[l].len;
        bool cut = l + 1 == shown && shown < need;
        char buf[1024];
        if (cut) { // mark the dropped rest with ".." and keep it inside the width
            if (len > sizeof buf - 3) len = sizeof buf - 3;
            memcpy(buf, t, len);
            while (len > 0 && font_text_width(buf, len, scale) + 2 * FONT_CELL_W * scale > w) {
                do len--; while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80);
            }
            memcpy(buf + len, "..", 2);
            t = buf;
            len += 2;
        }
        int64_t tw = font_text_width(t, len, scale);
        int64_t tx = align == FONT_ALIGN_CENTER ? x + (w - tw) / 2 : x;
        font_draw(img, tx, top + (int64_t)l * lh, t, len, scale, rgb);
    }
    return shown;
}
