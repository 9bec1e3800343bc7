#ifndef CLLM_JEMALLOC_SHIM_H
#define CLLM_JEMALLOC_SHIM_H
// jemalloc's flag macros are function-like, which Swift cannot import; these inline wrappers expose them.
#include <jemalloc/jemalloc.h>

/// Flags for mallocx/sdallocx that place an allocation in arena `a`, bypassing the thread cache so the
/// bytes are attributed to that arena at once.
static inline int cllm_jem_flags_arena(unsigned a) { return MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE; }

/// Same as above with a power-of-two alignment (log2 bytes), for SIMD-aligned buffers.
static inline int cllm_jem_flags_arena_aligned(unsigned a, unsigned lg_align) {
    return MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE | MALLOCX_LG_ALIGN(lg_align);
}
#endif
