// SPDX-License-Identifier: Apache-2.0
// Pictures of `tconv lint --png` and `tconv bench --plot`: an RGB canvas with rectangles and
// text in the built-in 5x7 font, written as PNG with libpng.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tconv::cli {

struct Rgb {
    uint8_t r = 0, g = 0, b = 0;
};

inline constexpr Rgb kWhite{255, 255, 255}, kBlack{0, 0, 0}, kGrey{160, 160, 160};

// A colour of a perceptually ordered map (dark blue -> green -> yellow) at t in [0, 1].
Rgb heat_colour(double t);
// Distinct colours for series (bars of different implementations), cycling after eight.
Rgb series_colour(size_t i);

class Canvas {
  public:
    Canvas(int width, int height, Rgb background = kWhite);
    int width() const { return width_; }
    int height() const { return height_; }
    const std::vector<uint8_t>& rgb() const { return rgb_; }

    // Everything is clipped to the canvas.
    void fill(int x, int y, int w, int h, Rgb c);
    void frame(int x, int y, int w, int h, Rgb c);  // a one-pixel outline
    // Text with its top-left corner at (x, y), each font pixel `scale` pixels wide.
    void text(int x, int y, std::string_view s, Rgb c, int scale = 1);
    static int text_width(std::string_view s, int scale = 1);
    static int text_height(int scale = 1);

    // The file appears whole or not at all (written beside it, then renamed). An Error (io)
    // names `what` (e.g. "lint: --png") and the path.
    void write_png(const std::string& path, const std::string& what) const;

  private:
    int width_, height_;
    std::vector<uint8_t> rgb_;
};

// A decoded PNG as 8-bit RGB rows (for the tests, which check what was written).
struct Image {
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;
};
Image read_png(const std::string& path);

}  // namespace tconv::cli
