// SPDX-License-Identifier: Apache-2.0
// A built-in 5x7 bitmap font for printable ASCII, so the pictures need no font files.
#pragma once

namespace tconv::cli {

inline constexpr int kGlyphWidth = 5, kGlyphHeight = 7;
// Horizontal advance per character: the glyph and one blank column.
inline constexpr int kGlyphAdvance = kGlyphWidth + 1;

// True when pixel (x, y) of character `c`'s glyph is set; characters outside printable ASCII
// draw as '?'.
bool glyph_pixel(char c, int x, int y);

}  // namespace tconv::cli
