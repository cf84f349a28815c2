// grid_image.c — labelled comparison grids (see grid_image.h).
#include "sample/grid_image.h"
#include "sample/font.h"
#include <string.h>

static const uint8_t INK[3] = {0, 0, 0};
static const uint8_t EMPTY_CELL[3] = {224, 224, 224};

// Lines the longest of `labels` wraps to in `width` pixels, clamped to 1..max_lines.
static int64_t label_lines(const char *const *labels, int n, int scale, int64_t width, size_t max_lines) {
    size_t most = 1;
    for (int i = 0; i < n; i++) {
        if (!labels[i]) continue;
        size_t k = font_wrap(labels[i], scale, width, NULL, 0);
        if (k > most) most = k;
    }
    return (int64_t)(most < max_lines ? most : max_lines);
}

SdlStatus grid_layout(const GridSpec *s, GridLayout *g) {
    memset(g, 0, sizeof *g);
    if (s->nx < 1 || s->ny < 1 || s->cell_w < 1 || s->cell_h < 1 || s->gap < 0 || s->scale < 0 || s->scale > 64)
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "grid of %d×%d cells of %lld×%lld pixels (gap %lld, scale %d) is not drawable",
                        s->nx, s->ny, (long long)s->cell_w, (long long)s->cell_h, (long long)s->gap, s->scale);
    int64_t side = s->cell_w < s->cell_h ? s->cell_w : s->cell_h;
    int scale = s->scale;
    if (scale == 0) scale = side / 160 < 1 ? 1 : side / 160 > 6 ? 6 : (int)(side / 160);
    g->scale = scale;
    g->pad = 4 * (int64_t)scale;
    int64_t lh = font_line_height(scale);
    g->step_x = s->cell_w + s->gap;
    g->step_y = s->cell_h + s->gap;
    int64_t cells_w = (int64_t)s->nx * s->cell_w + (int64_t)(s->nx - 1) * s->gap;
    int64_t cells_h = (int64_t)s->ny * s->cell_h + (int64_t)(s->ny - 1) * s->gap;
    if (s->x_labels)
        g->top_h = label_lines(s->x_labels, s->nx, scale, s->cell_w - 2 * g->pad, GRID_MAX_LABEL_LINES) * lh + 2 * g->pad;
    if (s->y_labels) {
        int64_t widest = 0;
        for (int i = 0; i < s->ny; i++) {
            if (!s->y_labels[i]) continue;
            int64_t w = font_text_width(s->y_labels[i], strlen(s->y_labels[i]), scale);
            if (w > widest) widest = w;
        }
        g->left_w = (widest < s->cell_w ? widest : s->cell_w) + 2 * g->pad;
    }
    g->width = g->left_w + cells_w;
    if (s->title && s->title[0]) {
        const char *t[1] = {s->title};
        g->title_h = label_lines(t, 1, scale, g->width - 2 * g->pad, GRID_MAX_TITLE_LINES) * lh + 2 * g->pad;
    }
    g->x0 = g->left_w;
    g->y0 = g->title_h + g->top_h;
    g->height = g->y0 + cells_h;
    if (g->width > IMAGE_MAX_PIXELS / g->height)
        return sdl_fail(SDL_ERR_ARG, NULL, "use fewer values per axis or a smaller image size",
                        "grid image of %lld×%lld pixels is too large", (long long)g->width, (long long)g->height);
    return SDL_OK;
}

void grid_cell_origin(const GridLayout *g, int col, int row, int64_t *x, int64_t *y) {
    *x = g->x0 + (int64_t)col * g->step_x;
    *y = g->y0 + (int64_t)row * g->step_y;
}

SdlStatus grid_render(Image *out, const GridSpec *s, const Image *cells) {
    memset(out, 0, sizeof *out);
    GridLayout g;
    SDL_TRY(grid_layout(s, &g));
    for (int i = 0; i < s->nx * s->ny; i++)
        if (cells[i].rgb && (cells[i].width != s->cell_w || cells[i].height != s->cell_h))
            return sdl_fail(SDL_ERR_ARG, NULL, "every image of a grid must have the same size",
                            "grid cell %d is %lld×%lld, expected %lld×%lld", i, (long long)cells[i].width,
                            (long long)cells[i].height, (long long)s->cell_w, (long long)s->cell_h);
    SDL_TRY(image_alloc(out, g.width, g.height));
    memset(out->rgb, 255, (size_t)(g.width * g.height * 3));
    if (g.title_h)
        font_draw_box(out, g.pad, g.pad, g.width - 2 * g.pad, g.title_h - 2 * g.pad, s->title, g.scale, INK, FONT_ALIGN_CENTER);
    for (int c = 0; c < s->nx && s->x_labels; c++) {
        int64_t x, y;
        grid_cell_origin(&g, c, 0, &x, &y);
        if (s->x_labels[c])
            font_draw_box(out, x + g.pad, g.title_h + g.pad, s->cell_w - 2 * g.pad, g.top_h - 2 * g.pad, s->x_labels[c],
                          g.scale, INK, FONT_ALIGN_CENTER);
    }
    for (int r = 0; r < s->ny && s->y_labels; r++) {
        int64_t x, y;
        grid_cell_origin(&g, 0, r, &x, &y);
        if (s->y_labels[r])
            font_draw_box(out, g.pad, y + g.pad, g.left_w - 2 * g.pad, s->cell_h - 2 * g.pad, s->y_labels[r], g.scale, INK,
                          FONT_ALIGN_CENTER);
    }
    for (int r = 0; r < s->ny; r++)
        for (int c = 0; c < s->nx; c++) {
            int64_t x, y;
            grid_cell_origin(&g, c, r, &x, &y);
            const Image *cell = &cells[r * s->nx + c];
            for (int64_t row = 0; row < s->cell_h; row++) {
                uint8_t *dst = out->rgb + ((y + row) * g.width + x) * 3;
                if (cell->rgb) {
                    memcpy(dst, cell->rgb + row * s->cell_w * 3, (size_t)(s->cell_w * 3));
                } else {
                    for (int64_t k = 0; k < s->cell_w; k++) memcpy(dst + k * 3, EMPTY_CELL, 3);
                }
            }
        }
    return SDL_OK;
}
