// Shared by the per-instruction-set files and the dispatcher: each kernels_<isa>.c defines these entry
// points (HS_DEFINE_ENTRY_POINTS exports the static functions of kernels_body.h under the ISA's prefix).
#ifndef HEADSTART_KERNELS_PRIVATE_H
#define HEADSTART_KERNELS_PRIVATE_H
#include "CKernels.h"

/// How a 1×k kernel is cut into one-dimensional Winograd parts on 6-point tiles: part p covers taps
/// [first_tap, first_tap + taps) with F(m, taps), m + taps − 1 = 6.
typedef struct { int parts; int taps[2], first_tap[2], m[2]; } hs_w1d_split;

static inline hs_w1d_split hs_w1d_split_of(int k) {
    hs_w1d_split s = {1, {k, 0}, {0, 0}, {7 - k, 0}};  // k = 3: F(4, 3); k = 5: F(2, 5)
    if (k == 7) {
        s.parts = 2;
        s.taps[0] = 4; s.first_tap[0] = 0; s.m[0] = 3;  // F(3, 4) on taps 0–3
        s.taps[1] = 3; s.first_tap[1] = 4; s.m[1] = 4;  // F(4, 3) on taps 4–6
    }
    return s;
}

#define HS_DECLARE_ENTRY_POINTS(isa)                                                                          \
    hs_blocking hs_##isa##_blocking(void);                                                                    \
    void hs_##isa##_conv(const hs_conv_desc *d, long row0, long row1, int p0, int p1, void *scratch);         \
    size_t hs_##isa##_conv_scratch(int kh, int kw, int cin);                                                           \
    void hs_##isa##_gemm(const float *a, long lda, const float *packed, int k, int n, float *c, long ldc,     \
                         hs_epilogue e, long row0, long row1, int p0, int p1, void *scratch);                 \
    int hs_##isa##_wino_block(const hs_winograd_desc *d);                                                     \
    size_t hs_##isa##_wino_scratch(const hs_winograd_desc *d);                                                \
    void hs_##isa##_wino(const hs_winograd_desc *d, long tile0, long tile1, int p0, int p1, void *scratch); \
    size_t hs_##isa##_wino1d_scratch(const hs_winograd1d_desc *d);                                            \
    void hs_##isa##_wino1d(const hs_winograd1d_desc *d, long l0, long l1, int p0, int p1, void *scratch);     \
    void hs_##isa##_maxpool(float *out, long os, const float *inp, long is, int c, int h, int w, int oh, int ow,  \
                            long l0, long l1);                                                                \
    void hs_##isa##_avgpool(float *out, long os, const float *inp, long is, int c, int h, int w,               \
                            const float *bias, long l0, long l1);                                             \
    size_t hs_##isa##_head_scratch(int B, int H, int T);                                                       \
    void hs_##isa##_head_update(const hs_head_desc *d, long f0, long f1, int acc, void *scratch);             \
    void hs_##isa##_head_forward(const hs_head_desc *d, long f0, long f1, int acc, void *scratch);

#define HS_DEFINE_ENTRY_POINTS(isa)                                                                           \
    hs_blocking hs_##isa##_blocking(void) { return (hs_blocking){MR, NR, KC}; }                               \
    void hs_##isa##_conv(const hs_conv_desc *d, long row0, long row1, int p0, int p1, void *scratch) {        \
        FN(conv_forward)(d, row0, row1, p0, p1, scratch);                                                     \
    }                                                                                                         \
    size_t hs_##isa##_conv_scratch(int kh, int kw, int cin) { return FN(conv_scratch_bytes)(kh, kw, cin); }                \
    void hs_##isa##_gemm(const float *a, long lda, const float *packed, int k, int n, float *c, long ldc,     \
                         hs_epilogue e, long row0, long row1, int p0, int p1, void *scratch) {                \
        FN(gemm_rows)(a, lda, packed, k, n, c, ldc, e, row0, row1, p0, p1, scratch);                          \
    }                                                                                                         \
    int hs_##isa##_wino_block(const hs_winograd_desc *d) { return FN(winograd_block)(d); }                   \
    size_t hs_##isa##_wino_scratch(const hs_winograd_desc *d) { return FN(winograd_scratch_bytes)(d); }      \
    void hs_##isa##_wino(const hs_winograd_desc *d, long tile0, long tile1, int p0, int p1, void *scratch) { \
        FN(winograd_forward)(d, tile0, tile1, p0, p1, scratch);                                               \
    }                                                                                                         \
    size_t hs_##isa##_wino1d_scratch(const hs_winograd1d_desc *d) { return FN(winograd1d_scratch_bytes)(d); } \
    void hs_##isa##_wino1d(const hs_winograd1d_desc *d, long l0, long l1, int p0, int p1, void *scratch) {    \
        FN(winograd1d_forward)(d, l0, l1, p0, p1, scratch);                                                   \
    }                                                                                                         \
    void hs_##isa##_maxpool(float *out, long os, const float *inp, long is, int c, int h, int w, int oh, int ow,  \
                            long l0, long l1) {                                                               \
        FN(maxpool3x3s2)(out, os, inp, is, c, h, w, oh, ow, l0, l1);                                          \
    }                                                                                                         \
    void hs_##isa##_avgpool(float *out, long os, const float *inp, long is, int c, int h, int w,               \
                            const float *bias, long l0, long l1) {                                            \
        FN(avgpool3x3same)(out, os, inp, is, c, h, w, bias, l0, l1);                                          \
    }                                                                                                         \
    size_t hs_##isa##_head_scratch(int B, int H, int T) { return FN(head_scratch_bytes)(B, H, T); }            \
    void hs_##isa##_head_update(const hs_head_desc *d, long f0, long f1, int acc, void *scratch) {            \
        FN(head_update_rows)(d, f0, f1, acc, scratch);                                                             \
    }                                                                                                         \
    void hs_##isa##_head_forward(const hs_head_desc *d, long f0, long f1, int acc, void *scratch) {           \
        FN(head_forward_rows)(d, f0, f1, acc, scratch);                                                            \
    }

HS_DECLARE_ENTRY_POINTS(scalar)
#if defined(__x86_64__)
HS_DECLARE_ENTRY_POINTS(avx2)
HS_DECLARE_ENTRY_POINTS(avx512)
#endif

#endif
