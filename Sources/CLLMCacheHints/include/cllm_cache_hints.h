#ifndef CLLM_CACHE_HINTS_H
#define CLLM_CACHE_HINTS_H
// Cache hints, which Swift cannot express: the kernels ask for rows they will read next, written long before
// (activations of an earlier layer), while they compute on the rows in hand; and they write the values only
// the backward pass reads past the caches, so they neither evict what the forward pass is using nor make the
// core read each line from memory before overwriting it.

/// Starts loading [p, p + bytes) into the caches (one prefetcht0 per 64-byte line). Never faults.
static inline void cllm_prefetch(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
}

/// Writes the 8 floats at `src` to `dst` with a non-temporal (streaming) store. `dst` must be 32-byte
/// aligned. Two of them side by side fill one 64-byte line, which then goes to memory whole.
static inline void cllm_stream8(float *dst, const float *src) {
    typedef float cllm_v8 __attribute__((vector_size(32), aligned(32)));
    typedef float cllm_v8u __attribute__((vector_size(32), aligned(4)));
    __builtin_nontemporal_store(*(const cllm_v8u *)src, (cllm_v8 *)dst);
}

/// Orders the streaming stores before this point ahead of every later store (x86's sfence): a kernel calls
/// it once before it returns, so whoever it hands its results to sees them.
static inline void cllm_stream_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}
#endif
