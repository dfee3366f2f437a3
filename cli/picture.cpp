// SPDX-License-Identifier: Apache-2.0
#include "picture.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "font5x7.hpp"
#include "tconv/error.hpp"

namespace tconv::cli {

Rgb heat_colour(double t) {
    // Anchors sampled by eye along a viridis-like ramp: ordered in lightness, readable in grey.
    static constexpr Rgb kRamp[] = {{68, 1, 84},    {59, 82, 139},  {33, 145, 140},
                                    {94, 201, 98}, {253, 231, 37}};
    constexpr int n = int(std::size(kRamp)) - 1;
    t = std::clamp(t, 0.0, 1.0) * n;
    const int i = std::min(int(t), n - 1);
    const double f = t - i;
    auto mix = [&](uint8_t a, uint8_t b) { return uint8_t(std::lround(a + (b - a) * f)); };
    return {mix(kRamp[i].r, kRamp[i + 1].r), mix(kRamp[i].g, kRamp[i + 1].g),
            mix(kRamp[i].b, kRamp[i + 1].b)};
}

Rgb series_colour(size_t i) {
    static constexpr Rgb kSeries[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                      {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
                                      {227, 119, 194}, {127, 127, 127}};
    return kSeries[i % std::size(kSeries)];
}

Canvas::Canvas(int width, int height, Rgb background)
    : width_(std::max(width, 1)), height_(std::max(height, 1)),
      rgb_(size_t(width_) * size_t(height_) * 3) {
    fill(0, 0, width_, height_, background);
}

void Canvas::fill(int x, int y, int w, int h, Rgb c) {
    const int x0 = std::max(x, 0), y0 = std::max(y, 0);
    const int x1 = std::min(x + w, width_), y1 = std::min(y + h, height_);
    for (int yy = y0; yy < y1; ++yy)
        for (int xx = x0; xx < x1; ++xx) {
            uint8_t* p = &rgb_[(size_t(yy) * size_t(width_) + size_t(xx)) * 3];
            p[0] = c.r, p[1] = c.g, p[2] = c.b;
        }
}

void Canvas::frame(int x, int y, int w, int h, Rgb c) {
    fill(x, y, w, 1, c);
    fill(x, y + h - 1, w, 1, c);
    fill(x, y, 1, h, c);
    fill(x + w - 1, y, 1, h, c);
}

void Canvas::text(int x, int y, std::string_view s, Rgb c, int scale) {
    for (size_t i = 0; i < s.size(); ++i)
        for (int gy = 0; gy < kGlyphHeight; ++gy)
            for (int gx = 0; gx < kGlyphWidth; ++gx)
                if (glyph_pixel(s[i], gx, gy))
                    fill(x + (int(i) * kGlyphAdvance + gx) * scale, y + gy * scale, scale, scale,
                         c);
}

int Canvas::text_width(std::string_view s, int scale) {
    return s.empty() ? 0 : (int(s.size()) * kGlyphAdvance - 1) * scale;
}

int Canvas::text_height(int scale) { return kGlyphHeight * scale; }

namespace {

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

// libpng reports errors by longjmp to the setjmp in the caller; these only record the text.
[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
    auto* text = static_cast<std::string*>(png_get_error_ptr(png));
    if (text) *text = message;
    png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}

// Writes the rows; false (and `error` set) on failure. Kept free of C++ objects with
// destructors between setjmp and longjmp.
bool encode(std::FILE* f, const Canvas& c, std::string& error) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, on_png_error,
                                              on_png_warning);
    if (!png) return error = "out of memory", false;
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        if (error.empty()) error = "libpng failed";
        return false;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, png_uint_32(c.width()), png_uint_32(c.height()), 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c.height(); ++y)
        png_write_row(png, &c.rgb()[size_t(y) * size_t(c.width()) * 3]);
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return true;
}

}  // namespace

void Canvas::write_png(const std::string& path, const std::string& what) const {
    namespace fs = std::filesystem;
    const std::string tmp = path + ".tmp";
    std::string error;
    {
        std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
        if (!f)
            throw Error(ErrorKind::io, what + " " + path + ": cannot create the file");
        if (!encode(f.get(), *this, error) || std::fflush(f.get()) != 0) {
            f.reset();
            std::error_code ec;
            fs::remove(tmp, ec);
            throw Error(ErrorKind::io, what + " " + path + ": cannot write the PNG" +
                                           (error.empty() ? "" : ": " + error));
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw Error(ErrorKind::io, what + " " + path + ": cannot write the file");
    }
}

Image read_png(const std::string& path) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path.c_str()))
        throw Error(ErrorKind::io, path + ": not a readable PNG: " + image.message);
    image.format = PNG_FORMAT_RGB;
    Image out;
    out.width = int(image.width);
    out.height = int(image.height);
    out.rgb.resize(PNG_IMAGE_SIZE(image));
    if (!png_image_finish_read(&image, nullptr, out.rgb.data(), 0, nullptr)) {
        png_image_free(&image);
        throw Error(ErrorKind::io, path + ": cannot decode the PNG: " + image.message);
    }
    return out;
}

}  // namespace tconv::cli
