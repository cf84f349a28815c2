// grid_image.h — composing equal-size images into one labelled X×Y comparison grid (what
// `sdlora grid` writes, like A1111's X/Y/Z plot): white background, an optional title band on
// top, a band of column labels above the cells, a band of row labels left of them, text in
// the embedded font (sample/font.h), centred and word-wrapped.
//
//   +-----------------------------------+
//   |               title               |  title_h
//   +--------+--------+--------+--------+
//   |        | x lab 0| x lab 1| x lab 2|  top_h
//   +--------+--------+--------+--------+
//   | y lab 0| cell   | cell   | cell   |  cell_h (+ gap between rows)
//   | y lab 1| cell   | cell   | cell   |
//   +--------+--------+--------+--------+
//     left_w   cell_w (+ gap between columns)
//
// grid_layout() is the geometry alone (pure, tested), grid_render() draws it.
#pragma once
#include <stdint.h>
#include "base/error.h"
#include "io/image.h"

typedef struct {
    int nx, ny;                   // columns, rows (>= 1)
    int64_t cell_w, cell_h;       // size of every cell image
    const char *const *x_labels;  // nx column labels, or NULL for no label band
    const char *const *y_labels;  // ny row labels, or NULL for no label band
    const char *title;            // NULL or "" for none
    int scale;                    // font scale; 0 = from the cell size (cell side / 160, 1..6)
    int64_t gap;                  // pixels between neighbouring cells (>= 0)
} GridSpec;

#define GRID_MAX_LABEL_LINES 4    // a column label wraps to at most this many lines
#define GRID_MAX_TITLE_LINES 3

typedef struct {
    int64_t width, height;        // the whole image
    int scale;                    // font scale used
    int64_t pad;                  // space around text: 4·scale
    int64_t title_h;              // title band height (0 without a title)
    int64_t top_h;                // column label band height (0 without x labels)
    int64_t left_w;               // row label band width (0 without y labels)
    int64_t x0, y0;               // top-left of cell (0, 0) = (left_w, title_h + top_h)
    int64_t step_x, step_y;       // cell_w + gap, cell_h + gap
} GridLayout;

// Band sizes: top_h = lines·line_height + 2·pad, lines = the most any column label wraps to
// in cell_w − 2·pad (1..GRID_MAX_LABEL_LINES); left_w = min(widest row label, cell_w) + 2·pad;
// title_h likewise over the full width (1..GRID_MAX_TITLE_LINES lines). SDL_ERR_ARG for a
// bad spec or an image over IMAGE_MAX_PIXELS.
SdlStatus grid_layout(const GridSpec *spec, GridLayout *out);
// Top-left pixel of the cell in column `col`, row `row`.
void grid_cell_origin(const GridLayout *g, int col, int row, int64_t *x, int64_t *y);
// Draws the grid into a new image (*out, free with image_free). cells[row·nx + col] must all
// be cell_w × cell_h; a cell whose rgb is NULL is left light grey (a failed generation).
SdlStatus grid_render(Image *out, const GridSpec *spec, const Image *cells);
