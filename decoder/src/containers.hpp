// Containers the decoder's model is built of (decoder-internal): the
// timeline keeps its tasks in them, the analysis its per-task state. A
// capture may name millions of tasks; these keep that cheap.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace bbx::dec {

// A vector whose first N elements live inline: most tasks need one or two,
// and a heap block for each would cost more than the rest of the task.
// For trivially copyable T.
template <class T, size_t N>
class small_vec {
public:
    small_vec() = default;
    small_vec(const small_vec& o) { *this = o; }
    small_vec& operator=(const small_vec& o) {
        if (this != &o) {
            clear();
            for (const T& x : o) push_back(x);
        }
        return *this;
    }
    ~small_vec() { release(); }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    T* begin() { return data(); }
    T* end() { return data() + size_; }
    const T* begin() const { return data(); }
    const T* end() const { return data() + size_; }
    T& operator[](size_t i) { return data()[i]; }
    const T& operator[](size_t i) const { return data()[i]; }
    T& back() { return data()[size_ - 1]; }
    const T& back() const { return data()[size_ - 1]; }
    void clear() { size_ = 0; }
    void pop_back() { --size_; }
    bool on_heap() const { return cap_ > N; }  // it allocated: its destructor has a block to free
    void push_back(const T& x) {
        if (size_ == cap_) grow();
        data()[size_++] = x;
    }
    // Empties it and frees a heap block (clear() keeps the block).
    void release() {
        if (cap_ > N) delete[] u_.heap;
        cap_ = N;
        size_ = 0;
    }

private:
    T* data() { return cap_ > N ? u_.heap : u_.in; }
    const T* data() const { return cap_ > N ? u_.heap : u_.in; }
    void grow() {
        T* h = new T[size_t(cap_) * 2];
        std::copy(begin(), end(), h);
        if (cap_ > N) delete[] u_.heap;
        u_.heap = h;
        cap_ *= 2;
    }
    union {
        T in[N] = {};
        T* heap;  // when cap_ > N
    } u_;
    uint32_t size_ = 0, cap_ = N;
};

// Elements that never move once added: no copying as it grows, and
// references stay valid. Blocks of 2 MiB; all but the first are asked to be
// one transparent huge page each: a capture may have millions of tasks, and
// faulting their state in 4 KiB at a time cost more than analysing them
// (while a small capture, fuzzing, should not pay for a whole huge page).
template <class T>
class stable_vec {
public:
    stable_vec() = default;
    stable_vec(const stable_vec&) = delete;
    stable_vec& operator=(const stable_vec&) = delete;
    ~stable_vec() {
        for_each([](T& x, size_t) { x.~T(); });
        for (T* b : blocks_) munmap(b, block_bytes);
    }
    size_t size() const { return size_; }
    // Frees every block without running the elements' destructors: for an
    // owner that destroyed (or never let allocate) every element that owns
    // memory. Visiting each of millions of elements only to find none costs
    // a cache miss an element.
    void forget() {
        for (T* b : blocks_) munmap(b, block_bytes);
        blocks_.clear();
        tail_ = tail_end_ = nullptr;
        size_ = 0;
    }
    T& operator[](size_t i) { return blocks_[i / per_block][i % per_block]; }
    const T& operator[](size_t i) const { return blocks_[i / per_block][i % per_block]; }
    T& emplace_back() {
        if (tail_ == tail_end_) {
            blocks_.push_back(new_block(!blocks_.empty()));
            tail_ = blocks_.back();
            tail_end_ = tail_ + per_block;
        }
        T* p = new (tail_++) T();
        ++size_;
        return *p;
    }
    // f(element, index) for every element in order. Block by block: indexing
    // each one divides by per_block (about 15 instructions an element where
    // analyze walks its tasks).
    template <class F>
    void for_each(F&& f) {
        size_t i = 0;
        for (T* b : blocks_)
            for (T *p = b, *e = b + std::min(size_ - i, per_block); p != e; ++p, ++i) f(*p, i);
    }
    template <class F>
    void for_each(F&& f) const {
        size_t i = 0;
        for (const T* b : blocks_)
            for (const T *p = b, *e = b + std::min(size_ - i, per_block); p != e; ++p, ++i) f(*p, i);
    }

private:
    static constexpr size_t block_bytes = size_t(2) << 20;
    static constexpr size_t per_block = block_bytes / sizeof(T);
    static T* new_block(bool huge) {
        // Twice the size, to cut an aligned block out of it for a huge page.
        void* m = mmap(nullptr, (huge ? 2 : 1) * block_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) throw std::bad_alloc();
        if (!huge) return static_cast<T*>(m);
        const uintptr_t a = reinterpret_cast<uintptr_t>(m), b = (a + block_bytes - 1) & ~(block_bytes - 1);
        if (b > a) munmap(m, b - a);
        if (b + block_bytes < a + 2 * block_bytes) munmap(reinterpret_cast<void*>(b + block_bytes), a + block_bytes - b);
        void* block = reinterpret_cast<void*>(b);
        madvise(block, block_bytes, MADV_HUGEPAGE);  // a hint: without huge pages it is 4 KiB pages
        return static_cast<T*>(block);
    }
    std::vector<T*> blocks_;
    T *tail_ = nullptr, *tail_end_ = nullptr;  // where the next element goes, the end of its block
    size_t size_ = 0;
};

// Task id (never 0) -> index. The recorder hands ids out from a counter,
// in blocks per thread, so they are mostly dense: those live in a table
// indexed by id - base (kept under 16 slots per task, plus 64 Ki); any other
// id in a hash table (open addressing, linear probing, at most half full).
// An id is in one or the other, never both.
class id_index {
public:
    // The index of id; if it has none yet, `fresh` becomes its index.
    uint32_t find_or_add(uint64_t id, uint32_t fresh, bool& added) {
        if (!based_) {
            base_ = id > dense_slack ? id - dense_slack : 0;
            based_ = true;
        }
        const uint64_t off = id - base_;  // (ids below base_ wrap around: huge)
        if (off < dense_.size() && dense_[off]) {
            added = false;
            return dense_[off] - 1;
        }
        if (n_hashed_)
            if (const uint32_t* i = find_hashed(id)) {
                added = false;
                return *i;
            }
        added = true;
        ++n_;
        if (off < dense_.size() || (off < 16 * n_ + dense_slack && widen(off))) {
            dense_[off] = fresh + 1;
            return fresh;
        }
        add_hashed(id, fresh);
        return fresh;
    }
    bool find(uint64_t id, uint32_t& index) const {
        const uint64_t off = id - base_;
        if (based_ && off < dense_.size() && dense_[off]) {
            index = dense_[off] - 1;
            return true;
        }
        const uint32_t* i = n_hashed_ ? find_hashed(id) : nullptr;
        if (i) index = *i;
        return i != nullptr;
    }

private:
    static constexpr uint64_t dense_slack = 1 << 16;
    struct slot {
        uint64_t id;
        uint32_t index;
    };
    static uint64_t hash(uint64_t x) {  // murmur3's finaliser
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ull;
        return x ^ (x >> 33);
    }
    bool widen(uint64_t off) {
        dense_.resize(std::max<size_t>(size_t(off) + 1, 2 * dense_.size()), 0);
        return true;
    }
    const uint32_t* find_hashed(uint64_t id) const {
        if (id == 0) return nullptr;
        for (size_t i = hash(id) & mask_;; i = (i + 1) & mask_) {
            const slot& s = slots_[i];
            if (s.id == id) return &s.index;
            if (s.id == 0) return nullptr;
        }
    }
    void add_hashed(uint64_t id, uint32_t index) {
        if (2 * (n_hashed_ + 1) > slots_.size()) {
            std::vector<slot> old = std::move(slots_);
            slots_.assign(old.empty() ? 64 : old.size() * 2, slot{0, 0});
            mask_ = slots_.size() - 1;
            for (const slot& s : old)
                if (s.id) put(s);
        }
        put({id, index});
        ++n_hashed_;
    }
    void put(const slot& s) {
        for (size_t i = hash(s.id) & mask_;; i = (i + 1) & mask_)
            if (slots_[i].id == 0) {
                slots_[i] = s;
                return;
            }
    }
    uint64_t base_ = 0;
    bool based_ = false;
    std::vector<uint32_t> dense_;  // index + 1, or 0
    std::vector<slot> slots_;
    size_t mask_ = 0, n_ = 0, n_hashed_ = 0;
};

}  // namespace bbx::dec
