// The kernels for AVX2 + FMA: 6 × 16 register tile (12 accumulators, 2 B vectors, 1 broadcast of 16 ymm).
#include "CKernels.h"
#include "kernels_private.h"
#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

typedef __m256 V;
#define VL 8
#define MR 6
#define NR 16
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 72
#endif
#define HS_THIS_ISA HS_ISA_AVX2
#define FN(name) hs_avx2_##name
#define vzero() _mm256_setzero_ps()
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vbcast(p) _mm256_broadcast_ss(p)
#define vset1(x) _mm256_set1_ps(x)
#define vadd(a, b) _mm256_add_ps(a, b)
#define vsub(a, b) _mm256_sub_ps(a, b)
#define vmax(a, b) _mm256_max_ps(a, b)
#define vdiv(a, b) _mm256_div_ps(a, b)
#define vmul(a, b) _mm256_mul_ps(a, b)
#define vsqrt(a) _mm256_sqrt_ps(a)
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define COLS(X, r) X(r, 0) X(r, 1)
#include "kernels_body.h"

HS_DEFINE_ENTRY_POINTS(avx2)

#pragma clang attribute pop
#endif
