// test_grid.c — the embedded bitmap font (sample/font.h: known glyph pixels, every glyph
// present and distinct, scaled drawing, widths, word wrap, truncation) and the comparison
// grid (sample/grid_image.h: label band sizes, cell positions, rendering, errors).
#include "harness.h"
#include "sample/font.h"
#include "sample/grid_image.h"
#include <stdlib.h>
#include <string.h>

static bool streq_n(const char *s, FontLine l, const char *want) {
    return l.len == strlen(want) && memcmp(s + l.start, want, l.len) == 0;
}

// The glyph as 9 rows of 5 chars, for comparison with hand-written art.
static bool glyph_is(int c, const char *rows[FONT_GLYPH_H]) {
    for (int y = 0; y < FONT_GLYPH_H; y++)
        for (int x = 0; x < FONT_GLYPH_W; x++)
            if (font_glyph_pixel(c, x, y) != (rows[y][x] == '#')) {
                fprintf(stderr, "  glyph '%c' differs at (%d, %d)\n", c, x, y);
                return false;
            }
    return true;
}

static void test_glyphs(void) {
    const char *A[] = {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#", ".....", "....."};
    const char *g[] = {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."};
    const char *bar[] = {"..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "....."};
    CHECK(glyph_is('A', A));
    CHECK(glyph_is('g', g));
    CHECK(glyph_is('|', bar));
    int ink_space = 0;
    for (int y = 0; y < FONT_GLYPH_H; y++)
        for (int x = 0; x < FONT_GLYPH_W; x++) ink_space += font_glyph_pixel(' ', x, y);
    CHECK(ink_space == 0);
    CHECK(!font_glyph_pixel('A', -1, 0) && !font_glyph_pixel('A', 5, 0) && !font_glyph_pixel('A', 0, 9));
    // outside 32..126 draws '?'
    for (int y = 0; y < FONT_GLYPH_H; y++)
        for (int x = 0; x < FONT_GLYPH_W; x++) CHECK(font_glyph_pixel(200, x, y) == font_glyph_pixel('?', x, y));
    // every printable glyph has ink and no two look alike (a slip in the art shows up here)
    uint64_t bits[127] = {0};
    for (int c = 33; c <= 126; c++) {
        for (int y = 0; y < FONT_GLYPH_H; y++)
            for (int x = 0; x < FONT_GLYPH_W; x++)
                if (font_glyph_pixel(c, x, y)) bits[c] |= 1ull << (y * FONT_GLYPH_W + x);
        CHECKF(bits[c] != 0, "glyph '%c' is empty", c);
        for (int d = 33; d < c; d++) CHECKF(bits[c] != bits[d], "glyphs '%c' and '%c' are the same", c, d);
    }
    // capitals and digits stay within rows 0-6; only descenders use rows 7-8
    for (int c = 'A'; c <= 'Z'; c++)
        for (int x = 0; x < FONT_GLYPH_W; x++) CHECK(!font_glyph_pixel(c, x, 7) && !font_glyph_pixel(c, x, 8));
    CHECK(font_glyph_pixel('p', 0, 8) && font_glyph_pixel('y', 4, 7));
}

static void test_draw(void) {
    Image img;
    CHECK(image_alloc(&img, 40, 40) == SDL_OK);
    memset(img.rgb, 255, 40 * 40 * 3);
    const uint8_t red[3] = {255, 0, 0};
    font_draw(&img, 3, 1, "A", 1, 2, red);
    // at scale 2, glyph pixel (gx, gy) covers x = 3 + 2gx.., y = 1 + 2(FONT_TOP + gy)..
    int inked = 0, wrong = 0;
    for (int64_t y = 0; y < 40; y++)
        for (int64_t x = 0; x < 40; x++) {
            const uint8_t *p = img.rgb + (y * 40 + x) * 3;
            bool is_red = p[0] == 255 && p[1] == 0 && p[2] == 0;
            int gx = (int)(x - 3) / 2, gy = (int)(y - 1) / 2 - FONT_TOP;
            bool want = x >= 3 && y >= 1 && font_glyph_pixel('A', gx, gy);
            inked += is_red;
            wrong += is_red != want;
        }
    CHECK(wrong == 0);
    CHECK(inked == 4 * 18); // 'A' has 18 pixels
    // the top-left pixel of the 'A' bar: glyph (1, 0) → (5..6, 5..6)
    CHECK(img.rgb[(5 * 40 + 5) * 3 + 1] == 0 && img.rgb[(6 * 40 + 6) * 3 + 1] == 0 && img.rgb[(5 * 40 + 3) * 3 + 1] == 255);
    // clipping: drawing off the edges touches nothing outside and does not crash
    font_draw(&img, -7, -20, "WWWWWWWWWWWW", 12, 3, red);
    font_draw(&img, 38, 38, "M", 1, 3, red);
    image_free(&img);

    CHECK(font_text_width("", 0, 2) == 0);
    CHECK(font_text_width("abc", 3, 1) == 17);
    CHECK(font_text_width("abc", 3, 3) == 51);
    CHECK(font_char_count("caf\xC3\xA9!", 6) == 5); // UTF-8 é is one character
    CHECK(font_line_height(3) == 36);
}

static void test_wrap(void) {
    FontLine l[8];
    // width for exactly 5 characters at scale 1: 5·6 − 1 = 29
    size_t n = font_wrap("hello world", 1, 29, l, 8);
    CHECK(n == 2 && streq_n("hello world", l[0], "hello") && streq_n("hello world", l[1], "world"));
    n = font_wrap("hello world", 1, 28, l, 8); // 4 characters: words are cut
    CHECK(n == 4 && streq_n("hello world", l[0], "hell") && streq_n("hello world", l[1], "o"));
    const char *path = "out/run1-000004.safetensors";
    n = font_wrap(path, 1, 6 * 16 - 1, l, 8); // 16 characters: break after '-', then cut the 18-char rest
    CHECK(n == 3 && streq_n(path, l[0], "out/run1-") && streq_n(path, l[1], "000004.safetenso") && streq_n(path, l[2], "rs"));
    n = font_wrap("a\nb  c", 1, 1000, l, 8);
    CHECK(n == 2 && streq_n("a\nb  c", l[0], "a") && streq_n("a\nb  c", l[1], "b  c"));
    CHECK(font_wrap("", 2, 100, l, 8) == 0);
    CHECK(font_wrap("   ", 2, 100, l, 8) == 0);
    // the count is returned even when fewer lines were asked for
    CHECK(font_wrap("a b c d e", 1, 5, l, 2) == 5);

    // a box too small for the text keeps what fits and marks the cut with ".."
    Image img;
    CHECK(image_alloc(&img, 60, 24) == SDL_OK);
    memset(img.rgb, 255, 60 * 24 * 3);
    const uint8_t k[3] = {0, 0, 0};
    CHECK(font_draw_box(&img, 0, 0, 60, 24, "one two three four five six", 1, k, FONT_ALIGN_LEFT) == 2);
    image_free(&img);
}

static void test_layout(void) {
    const char *xl[3] = {"a", "bb", "ccc"}, *yl[2] = {"row one", "r2"};
    GridSpec s = {.nx = 3, .ny = 2, .cell_w = 64, .cell_h = 48, .x_labels = xl, .y_labels = yl, .scale = 1};
    GridLayout g;
    CHECK(grid_layout(&s, &g) == SDL_OK);
    CHECK(g.scale == 1 && g.pad == 4);
    CHECK(g.top_h == 12 + 8);                         // one line + 2 pads
    CHECK(g.left_w == font_text_width("row one", 7, 1) + 8);
    CHECK(g.title_h == 0);
    CHECK(g.x0 == g.left_w && g.y0 == 20);
    CHECK(g.width == g.left_w + 3 * 64 && g.height == 20 + 2 * 48);
    int64_t x, y;
    grid_cell_origin(&g, 2, 1, &x, &y);
    CHECK(x == g.left_w + 128 && y == 20 + 48);

    // a long column label wraps in cell_w − 2·pad (capped at GRID_MAX_LABEL_LINES); the row
    // band is at most one cell wide; a title adds its own band; gaps separate cells
    const char *xl2[3] = {"a", "one two three four five six seven eight nine ten eleven twelve", "c"};
    const char *yl2[2] = {"a very long row label that is wider than a cell", "b"};
    GridSpec t = {.nx = 3, .ny = 2, .cell_w = 64, .cell_h = 48, .x_labels = xl2, .y_labels = yl2, .title = "T",
                  .scale = 1, .gap = 2};
    CHECK(grid_layout(&t, &g) == SDL_OK);
    CHECK(g.top_h == GRID_MAX_LABEL_LINES * 12 + 8);
    CHECK(g.left_w == 64 + 8);
    CHECK(g.title_h == 12 + 8);
    CHECK(g.y0 == g.title_h + g.top_h && g.step_x == 66 && g.step_y == 50);
    CHECK(g.width == 72 + 3 * 64 + 2 * 2 && g.height == g.y0 + 2 * 48 + 2);
    grid_cell_origin(&g, 1, 1, &x, &y);
    CHECK(x == 72 + 66 && y == g.y0 + 50);

    // no labels: no bands; auto scale from the cell size
    GridSpec u = {.nx = 1, .ny = 1, .cell_w = 512, .cell_h = 768};
    CHECK(grid_layout(&u, &g) == SDL_OK && g.top_h == 0 && g.left_w == 0 && g.width == 512 && g.height == 768);
    CHECK(g.scale == 3);
    u.cell_w = u.cell_h = 64;
    CHECK(grid_layout(&u, &g) == SDL_OK && g.scale == 1);
    u.cell_w = u.cell_h = 4096;
    CHECK(grid_layout(&u, &g) == SDL_OK && g.scale == 6);

    GridSpec bad = {.nx = 0, .ny = 1, .cell_w = 8, .cell_h = 8};
    CHECK(grid_layout(&bad, &g) == SDL_ERR_ARG);
    GridSpec huge = {.nx = 100, .ny = 100, .cell_w = 2048, .cell_h = 2048};
    CHECK(grid_layout(&huge, &g) == SDL_ERR_ARG);
}

static void test_render(void) {
    enum { W = 40, H = 30 };
    Image cells[4];
    for (int i = 0; i < 4; i++) {
        CHECK(image_alloc(&cells[i], W, H) == SDL_OK);
        for (int64_t p = 0; p < W * H; p++) cells[i].rgb[p * 3] = (uint8_t)(10 + i), cells[i].rgb[p * 3 + 1] = (uint8_t)p,
                                              cells[i].rgb[p * 3 + 2] = 7;
    }
    const char *xl[2] = {"x0", "x1"}, *yl[2] = {"y0", "y1"};
    GridSpec s = {.nx = 2, .ny = 2, .cell_w = W, .cell_h = H, .x_labels = xl, .y_labels = yl, .title = "title", .scale = 1};
    GridLayout g;
    CHECK(grid_layout(&s, &g) == SDL_OK);
    Image out;
    CHECK(grid_render(&out, &s, cells) == SDL_OK);
    CHECK(out.width == g.width && out.height == g.height);
    // every cell lands at its origin, whole
    for (int i = 0; i < 4; i++) {
        int64_t x, y;
        grid_cell_origin(&g, i % 2, i / 2, &x, &y);
        int diff = 0;
        for (int64_t r = 0; r < H; r++) diff += memcmp(out.rgb + ((y + r) * out.width + x) * 3, cells[i].rgb + r * W * 3, W * 3) != 0;
        CHECKF(diff == 0, "cell %d", i);
    }
    // labels are black on white inside their bands; the top-left corner stays white
    int black_top = 0, black_left = 0, black_title = 0, other = 0;
    for (int64_t y = 0; y < g.y0; y++)
        for (int64_t x = 0; x < out.width; x++) {
            const uint8_t *p = out.rgb + (y * out.width + x) * 3;
            bool black = p[0] == 0 && p[1] == 0 && p[2] == 0, white = p[0] == 255 && p[1] == 255 && p[2] == 255;
            if (black && y < g.title_h) black_title++;
            else if (black && x >= g.x0) black_top++;
            else if (!white) other++;
        }
    for (int64_t y = g.y0; y < out.height; y++)
        for (int64_t x = 0; x < g.x0; x++) black_left += out.rgb[(y * out.width + x) * 3] == 0;
    CHECK(black_title > 0 && black_top > 0 && black_left > 0 && other == 0);
    CHECK(out.rgb[0] == 255 && out.rgb[(g.title_h * out.width + 1) * 3] == 255);
    image_free(&out);

    // a missing cell (failed generation) is grey; a cell of the wrong size is an error
    Image holes[4] = {cells[0], {0}, cells[2], cells[3]};
    GridSpec plain = {.nx = 2, .ny = 2, .cell_w = W, .cell_h = H, .scale = 1};
    CHECK(grid_render(&out, &plain, holes) == SDL_OK);
    CHECK(out.rgb[(0 * out.width + W + 3) * 3] == 224);
    image_free(&out);
    Image small;
    CHECK(image_alloc(&small, W - 1, H) == SDL_OK);
    memset(small.rgb, 0, (W - 1) * H * 3);
    Image mixed[4] = {cells[0], small, cells[2], cells[3]};
    CHECK(grid_render(&out, &plain, mixed) == SDL_ERR_ARG && out.rgb == NULL);
    image_free(&small);
    for (int i = 0; i < 4; i++) image_free(&cells[i]);
}

int main(void) {
    RUN(test_glyphs);
    RUN(test_draw);
    RUN(test_wrap);
    RUN(test_layout);
    RUN(test_render);
    return test_finish();
}
