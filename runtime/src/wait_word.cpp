// SPDX-License-Identifier: Apache-2.0
// The futex calls behind WaitWord: the kernel puts a thread to sleep only while the word still
// holds the value it saw, so a wake-up between its check and its sleep is never lost.
#include "wait_word.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tconv {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "a futex is a plain 32-bit word");

static uint32_t* word_address(const std::atomic<uint32_t>& word) {
    return reinterpret_cast<uint32_t*>(const_cast<std::atomic<uint32_t>*>(&word));
}

std::atomic<int64_t>& contended_until() {
    static std::atomic<int64_t> until{0};
    return until;
}

void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected) {
    // EAGAIN (the value changed) and EINTR both just return: the caller re-checks.
    syscall(SYS_futex, word_address(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake(const std::atomic<uint32_t>& word, int count) {
    if (count > 0) syscall(SYS_futex, word_address(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

}  // namespace tconv
