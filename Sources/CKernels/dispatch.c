// CPU feature detection and the public entry points, which hand each call to the instruction set asked for.
#include "CKernels.h"
#include "kernels_private.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#if defined(__x86_64__)
static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

hs_isa hs_isa_detect(void) {
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return HS_ISA_SCALAR;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx || !fma) return HS_ISA_SCALAR;
    const unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return HS_ISA_SCALAR;  // the OS saves XMM and YMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return HS_ISA_SCALAR;
    const int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (!avx2) return HS_ISA_SCALAR;
    if (avx512f && (xcr0 & 0xe0) == 0xe0) return HS_ISA_AVX512;  // and opmask + ZMM state
    return HS_ISA_AVX2;
#else
    return HS_ISA_SCALAR;
#endif
}

unsigned hs_cpu_features(void) {
    unsigned f = 0;
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0;
    const unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0;
    if ((c >> 12) & 1) f |= HS_CPU_FMA;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    if ((b >> 5) & 1) f |= HS_CPU_AVX2;
    if ((xcr0 & 0xe0) == 0xe0) {
        if ((b >> 16) & 1) f |= HS_CPU_AVX512F;
        if ((b >> 17) & 1) f |= HS_CPU_AVX512DQ;
        if ((b >> 30) & 1) f |= HS_CPU_AVX512BW;
        if ((b >> 31) & 1) f |= HS_CPU_AVX512VL;
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1)) f |= HS_CPU_AVX512BF16;
    }
#endif
    return f;
}

int hs_isa_supported(hs_isa isa) { return isa <= hs_isa_detect(); }

const char *hs_isa_name(hs_isa isa) {
    switch (isa) {
    case HS_ISA_AVX512: return "avx512";
    case HS_ISA_AVX2: return "avx2";
    default: return "scalar";
    }
}

#if defined(__x86_64__)
#define DISPATCH(isa, call)                                                                                   \
    switch (isa) {                                                                                            \
    case HS_ISA_AVX512: return hs_avx512_##call;                                                              \
    case HS_ISA_AVX2: return hs_avx2_##call;                                                                  \
    default: return hs_scalar_##call;                                                                         \
    }
#else
#define DISPATCH(isa, call) return hs_scalar_##call;
#endif

hs_blocking hs_gemm_blocking(hs_isa isa) { DISPATCH(isa, blocking()) }

size_t hs_packed_floats(hs_isa isa, int k, int n) {
    const int nr = hs_gemm_blocking(isa).nr;
    return (size_t)((n + nr - 1) / nr) * nr * (size_t)k;
}

void hs_pack_b(hs_isa isa, float *dst, const float *b, long ldb, int trans_b, int k, int n) {
    const int nr = hs_gemm_blocking(isa).nr;
    for (int p = 0; p * nr < n; p++) {
        float *panel = dst + (size_t)p * k * nr;
        for (int l = 0; l < k; l++) {
            for (int j = 0; j < nr; j++) {
                const int col = p * nr + j;
                panel[(size_t)l * nr + j] =
                    col < n ? (trans_b ? b[(size_t)col * ldb + l] : b[(size_t)l * ldb + col]) : 0.0f;
            }
        }
    }
}

size_t hs_conv_scratch_bytes(hs_isa isa, int kh, int kw, int cin) { DISPATCH(isa, conv_scratch(kh, kw, cin)) }

void hs_conv_forward(hs_isa isa, const hs_conv_desc *d, long row0, long row1, int p0, int p1, void *scratch) {
    DISPATCH(isa, conv(d, row0, row1, p0, p1, scratch))
}

void hs_gemm_rows(hs_isa isa, const float *a, long lda, const float *packed, int k, int n, float *c, long ldc,
                  hs_epilogue e, long row0, long row1, int p0, int p1, void *scratch) {
    DISPATCH(isa, gemm(a, lda, packed, k, n, c, ldc, e, row0, row1, p0, p1, scratch))
}

int hs_winograd_m(int r) { return r == 3 ? 4 : 2; }

long hs_winograd_tiles(const hs_winograd_desc *d) {
    const int m = hs_winograd_m(d->r);
    return (long)((d->oh + m - 1) / m) * ((d->ow + m - 1) / m);
}

int hs_winograd_block(hs_isa isa, const hs_winograd_desc *d) { DISPATCH(isa, wino_block(d)) }

size_t hs_winograd_scratch_bytes(hs_isa isa, const hs_winograd_desc *d) { DISPATCH(isa, wino_scratch(d)) }

void hs_winograd_forward(hs_isa isa, const hs_winograd_desc *d, long tile0, long tile1, int p0, int p1, void *scratch) {
    DISPATCH(isa, wino(d, tile0, tile1, p0, p1, scratch))
}

/// G for the points 0, ±1, ±2, ∞: row for point a is c_a · (1, a, a², …, a^(r−1)), the last row (0, …, 0, 1).
static void winograd_g(int r, double g[6][5]) {
    static const double points[5] = {0, 1, -1, 2, -2};
    static const double scale[5] = {1.0 / 4, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24};
    for (int i = 0; i < 5; i++) {
        double p = 1;
        for (int j = 0; j < r; j++) { g[i][j] = scale[i] * p; p *= points[i]; }
    }
    for (int j = 0; j < r; j++) g[5][j] = j == r - 1 ? 1 : 0;
}

void hs_winograd_pack_kernel(hs_isa isa, float *dst, const float *kernel, int r, int cin, int n) {
    double g[6][5];
    winograd_g(r, g);
    float *u = malloc(sizeof(float) * 36 * (size_t)cin * n);  // (36, cin, n) before packing
    for (int ci = 0; ci < cin; ci++) {
        for (int co = 0; co < n; co++) {
            double w[5][5], t[6][5];
            for (int dy = 0; dy < r; dy++)
                for (int dx = 0; dx < r; dx++) w[dy][dx] = kernel[((size_t)(dy * r + dx) * cin + ci) * n + co];
            for (int i = 0; i < 6; i++)  // t = G w
                for (int dx = 0; dx < r; dx++) {
                    double s = 0;
                    for (int dy = 0; dy < r; dy++) s += g[i][dy] * w[dy][dx];
                    t[i][dx] = s;
                }
            for (int i = 0; i < 6; i++)  // U = t Gᵀ
                for (int j = 0; j < 6; j++) {
                    double s = 0;
                    for (int dx = 0; dx < r; dx++) s += t[i][dx] * g[j][dx];
                    u[((size_t)(i * 6 + j) * cin + ci) * n + co] = (float)s;
                }
        }
    }
    const size_t per = hs_packed_floats(isa, cin, n);
    for (int pt = 0; pt < 36; pt++) hs_pack_b(isa, dst + pt * per, u + (size_t)pt * cin * n, n, 0, cin, n);
    free(u);
}

long hs_winograd1d_lines(const hs_winograd1d_desc *d) { return d->axis == 0 ? d->h : d->w; }

size_t hs_winograd1d_packed_floats(hs_isa isa, int k, int cin, int n) {
    return (size_t)6 * hs_w1d_split_of(k).parts * hs_packed_floats(isa, cin, n);
}

void hs_winograd1d_pack_kernel(hs_isa isa, float *dst, const float *kernel, int k, int cin, int n) {
    const hs_w1d_split sp = hs_w1d_split_of(k);
    const size_t per = hs_packed_floats(isa, cin, n);
    float *u = malloc(sizeof(float) * 6 * (size_t)cin * n);  // (6, cin, n) of one part before packing
    for (int p = 0; p < sp.parts; p++) {
        double g[6][5];
        winograd_g(sp.taps[p], g);
        for (int ci = 0; ci < cin; ci++)
            for (int co = 0; co < n; co++)
                for (int i = 0; i < 6; i++) {
                    double acc = 0;
                    for (int t = 0; t < sp.taps[p]; t++)
                        acc += g[i][t] * kernel[((size_t)(sp.first_tap[p] + t) * cin + ci) * n + co];
                    u[((size_t)i * cin + ci) * n + co] = (float)acc;
                }
        for (int i = 0; i < 6; i++)
            hs_pack_b(isa, dst + (size_t)(p * 6 + i) * per, u + (size_t)i * cin * n, n, 0, cin, n);
    }
    free(u);
}

size_t hs_winograd1d_scratch_bytes(hs_isa isa, const hs_winograd1d_desc *d) { DISPATCH(isa, wino1d_scratch(d)) }

void hs_winograd1d_forward(hs_isa isa, const hs_winograd1d_desc *d, long line0, long line1, int p0, int p1, void *scratch) {
    DISPATCH(isa, wino1d(d, line0, line1, p0, p1, scratch))
}

void hs_maxpool3x3s2(hs_isa isa, float *out, long out_stride, const float *inp, long in_stride,
                     int c, int h, int w, int oh, int ow, long l0, long l1) {
    DISPATCH(isa, maxpool(out, out_stride, inp, in_stride, c, h, w, oh, ow, l0, l1))
}

void hs_avgpool3x3same(hs_isa isa, float *out, long out_stride, const float *inp, long in_stride,
                       int c, int h, int w, const float *bias, long l0, long l1) {
    DISPATCH(isa, avgpool(out, out_stride, inp, in_stride, c, h, w, bias, l0, l1))
}

size_t hs_head_scratch_bytes(hs_isa isa, int B, int H, int tile_rows) { DISPATCH(isa, head_scratch(B, H, tile_rows)) }

void hs_head_update(hs_isa isa, const hs_head_desc *d, long f0, long f1, int accumulate, void *scratch) {
    DISPATCH(isa, head_update(d, f0, f1, accumulate, scratch))
}

void hs_head_forward(hs_isa isa, const hs_head_desc *d, long f0, long f1, int accumulate, void *scratch) {
    DISPATCH(isa, head_forward(d, f0, f1, accumulate, scratch))
}
