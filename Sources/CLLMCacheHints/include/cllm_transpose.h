#ifndef CLLM_TRANSPOSE_H
#define CLLM_TRANSPOSE_H
// An 8×8 transpose in registers, which Swift cannot express: it has no vector shuffle, and LLVM turns
// Swift's element-by-element version into a tangle of inserts and spills. The kernels' packings that
// turn rows into columns (a transposed B of the GEMM, attention's Kᵀ and Vᵀ strips) otherwise scatter one
// float per store.

/// Eight floats at any 4-byte-aligned address.
typedef float cllm_float8_unaligned __attribute__((ext_vector_type(8), aligned(4)));

/// dst[c·ldd + r] = src[r·lds + c] for r, c in 0..<8: eight row loads, 24 shuffles, eight row stores.
static inline void cllm_transpose8x8(const float *src, long lds, float *dst, long ldd) {
    typedef float f8 __attribute__((ext_vector_type(8)));
    f8 r0 = *(const cllm_float8_unaligned *)(src);
    f8 r1 = *(const cllm_float8_unaligned *)(src + lds);
    f8 r2 = *(const cllm_float8_unaligned *)(src + 2 * lds);
    f8 r3 = *(const cllm_float8_unaligned *)(src + 3 * lds);
    f8 r4 = *(const cllm_float8_unaligned *)(src + 4 * lds);
    f8 r5 = *(const cllm_float8_unaligned *)(src + 5 * lds);
    f8 r6 = *(const cllm_float8_unaligned *)(src + 6 * lds);
    f8 r7 = *(const cllm_float8_unaligned *)(src + 7 * lds);
    // Interleave row pairs within each 128-bit half: t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5].
    f8 t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13);
    f8 t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
    f8 t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13);
    f8 t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
    f8 t4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13);
    f8 t5 = __builtin_shufflevector(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
    f8 t6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13);
    f8 t7 = __builtin_shufflevector(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
    // Four rows' values of one column per half: u0 = column 0 of rows 0–3 | column 4 of rows 0–3.
    f8 u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
    f8 u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    f8 u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
    f8 u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    f8 u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
    f8 u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    f8 u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
    f8 u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    // Rows 0–3 and 4–7 of one column joined.
    *(cllm_float8_unaligned *)(dst) = __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
    *(cllm_float8_unaligned *)(dst + ldd) = __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
    *(cllm_float8_unaligned *)(dst + 2 * ldd) = __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
    *(cllm_float8_unaligned *)(dst + 3 * ldd) = __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
    *(cllm_float8_unaligned *)(dst + 4 * ldd) = __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
    *(cllm_float8_unaligned *)(dst + 5 * ldd) = __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
    *(cllm_float8_unaligned *)(dst + 6 * ldd) = __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
    *(cllm_float8_unaligned *)(dst + 7 * ldd) = __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
}
#endif
