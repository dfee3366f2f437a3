// SPDX-License-Identifier: Apache-2.0
// tconv::Span: a sized view of contiguous elements for APIs that check buffer sizes, usable
// from C++17 (which has no std::span). Made from a pointer and a count, a C array, a
// std::array, a std::vector, or any contiguous container with data() and size() (std::span
// in C++20 among them).
#pragma once

#include <cstddef>
#include <iterator>
#include <type_traits>

namespace tconv {

template <class T>
class Span {
    // Containers whose elements a T* may point to (float -> const float, not the reverse).
    template <class C>
    using ElementOf = std::remove_pointer_t<decltype(std::data(std::declval<C&>()))>;
    template <class C>
    using IfCompatible = std::enable_if_t<
        std::is_convertible_v<ElementOf<C> (*)[], T (*)[]> &&
        std::is_convertible_v<decltype(std::size(std::declval<C&>())), size_t>>;

  public:
    constexpr Span() noexcept = default;
    constexpr Span(T* data, size_t size) noexcept : data_(data), size_(size) {}
    template <class C, class = IfCompatible<C>>
    constexpr Span(C&& c) noexcept : data_(std::data(c)), size_(std::size(c)) {}

    constexpr T* data() const noexcept { return data_; }
    constexpr size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T* begin() const noexcept { return data_; }
    constexpr T* end() const noexcept { return data_ + size_; }
    constexpr T& operator[](size_t i) const noexcept { return data_[i]; }

  private:
    T* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace tconv
