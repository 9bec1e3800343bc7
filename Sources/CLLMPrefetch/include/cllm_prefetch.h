#ifndef CLLM_PREFETCH_H
#define CLLM_PREFETCH_H
// Software prefetch, which Swift cannot express: the kernels ask for rows they will read next, written long
// before (activations of an earlier layer), while they compute on the rows in hand.

/// Starts loading [p, p + bytes) into the caches (one prefetcht0 per 64-byte line). Never faults.
static inline void cllm_prefetch(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
}
#endif
