// The kernels for AVX-512 F: 8 × 32 register tile (16 accumulators, 2 B vectors, 1 broadcast of 32 zmm).
#include "CKernels.h"
#include "kernels_private.h"
#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)

typedef __m512 V;
#define VL 16
#define MR 8
#define NR 32
#define KC 192
#define MC 96
#define HS_THIS_ISA HS_ISA_AVX512
#define FN(name) hs_avx512_##name
#define vzero() _mm512_setzero_ps()
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vbcast(p) _mm512_set1_ps(*(p))
#define vset1(x) _mm512_set1_ps(x)
#define vadd(a, b) _mm512_add_ps(a, b)
#define vsub(a, b) _mm512_sub_ps(a, b)
#define vmax(a, b) _mm512_max_ps(a, b)
#define vdiv(a, b) _mm512_div_ps(a, b)
#define vmul(a, b) _mm512_mul_ps(a, b)
#define vsqrt(a) _mm512_sqrt_ps(a)
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define COLS(X, r) X(r, 0) X(r, 1)
#include "kernels_body.h"

HS_DEFINE_ENTRY_POINTS(avx512)

#pragma clang attribute pop
#endif
