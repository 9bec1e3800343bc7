#ifndef CLLM_CACHE_HINTS_H
#define CLLM_CACHE_HINTS_H
// Cache hints, which Swift cannot express: the kernels ask for rows they will read next, written long before
// (activations of an earlier layer), while they compute on the rows in hand; and they write values that are
// read much later, or read once in order, past the caches, so they neither evict what the forward pass is
// using nor make the core read each line from memory before overwriting it.

/// Starts loading [p, p + bytes) into the caches (one prefetcht0 per 64-byte line). Never faults.
static inline void cllm_prefetch(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
}

/// Eight floats as one value: Swift sees this type as SIMD8<Float>.
typedef float cllm_float8 __attribute__((ext_vector_type(8)));

/// Writes `v` to `dst` with a non-temporal (streaming) store, straight from a register. `dst` must be
/// 32-byte aligned.
static inline void cllm_stream_vector8(float *dst, cllm_float8 v) {
    __builtin_nontemporal_store(v, (cllm_float8 *)dst);
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
