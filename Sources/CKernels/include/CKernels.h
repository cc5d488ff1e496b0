// headstart's numerical kernels in C: one GEMM micro-kernel, the convolution and Winograd drivers built on
// it, and the CPU feature check that picks an instruction set. The same source (kernels_body.h) is compiled
// once per instruction set (AVX-512, AVX2+FMA, portable scalar); callers pass the `hs_isa` to use, so a test
// or a benchmark can force the narrower path on any host.
//
// Layouts (all float32, row-major):
// - Activations are NHWC. A tensor may be a channel slice of a wider buffer: `*_stride` is the buffer's
//   floats per pixel and the pointer points at the slice's first channel.
// - Weights (GEMM B, K × N) are packed once by hs_pack_b into panels of NR columns: panel p holds columns
//   [p·NR, p·NR + NR) as K rows of NR floats, zero-padded past N; panel p starts at p·K·NR.
// - "Rows" of a convolution are output pixels, flat over (image, oy, ox).
#ifndef HEADSTART_CKERNELS_H
#define HEADSTART_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    HS_ISA_SCALAR = 0,  // portable C, any CPU
    HS_ISA_AVX2 = 1,    // AVX2 + FMA (x86-64 since Haswell / Zen 1)
    HS_ISA_AVX512 = 2,  // AVX-512 F (Skylake-SP, Zen 4, Zen 5)
} hs_isa;

/// The widest instruction set both this CPU (CPUID) and the OS (XGETBV: saved register state) support.
hs_isa hs_isa_detect(void);
/// CPU features beyond the instruction set the kernels use, for choosing other libraries' kernels
/// (OpenBLAS's core type): a bit mask of HS_CPU_* (0 off x86-64).
enum {
    HS_CPU_AVX2 = 1 << 0, HS_CPU_FMA = 1 << 1, HS_CPU_AVX512F = 1 << 2, HS_CPU_AVX512DQ = 1 << 3,
    HS_CPU_AVX512BW = 1 << 4, HS_CPU_AVX512VL = 1 << 5, HS_CPU_AVX512BF16 = 1 << 6,
};
unsigned hs_cpu_features(void);

/// Whether `isa` can run here.
int hs_isa_supported(hs_isa isa);
/// "avx512", "avx2" or "scalar".
const char *hs_isa_name(hs_isa isa);

/// The micro-kernel's register tile: MR rows (broadcast) × NR columns (vectors), and the K block length.
typedef struct { int mr, nr, kc; } hs_blocking;
hs_blocking hs_gemm_blocking(hs_isa isa);

/// Floats of a packed K × N matrix for `isa`.
size_t hs_packed_floats(hs_isa isa, int k, int n);
/// Packs B (K × N; element (k, j) at b[k·ldb + j], or b[j·ldb + k] when trans_b) into panels (see above).
void hs_pack_b(hs_isa isa, float *dst, const float *b, long ldb, int trans_b, int k, int n);

/// Epilogue applied when the last K block is stored: out = acc + bias (if bias), then max(out, 0) (if relu).
typedef struct {
    const float *bias;  // (n,) or NULL
    int relu;
} hs_epilogue;

/// Scratch bytes one thread needs for hs_conv_forward / hs_gemm_rows (indirection pointers, edge tiles, the
/// gathered receptive fields of a few input channels) for a kh × kw kernel and at most `cin` input channels.
size_t hs_conv_scratch_bytes(hs_isa isa, int kh, int kw, int cin);

/// A convolution (cross-correlation, as TensorFlow's) as an indirect GEMM: the micro-kernel reads each output
/// pixel's receptive field straight from the input (no im2col copy); cells outside the image read zeros.
typedef struct {
    const float *input; long in_stride;  // (N, h, w, in_stride), cin channels used
    int h, w, cin;
    int kh, kw, stride, pad_top, pad_left;
    int oh, ow;
    const float *packed;  // (kh·kw·cin) × n, packed; row index (dy·kw + dx)·cin + ci, Keras's kernel order
    int n;
    hs_epilogue epilogue;
    float *output; long out_stride;  // (N, oh, ow, out_stride), n channels written
} hs_conv_desc;

/// Output rows [row0, row1) × column panels [p0, p1) of the convolution. Results do not depend on how the
/// rows and panels are split (each output sums its K terms in the same order whatever the split).
void hs_conv_forward(hs_isa isa, const hs_conv_desc *d, long row0, long row1, int p0, int p1, void *scratch);

/// C (m × n, ldc) = A (m × k; element (i, l) at a[i·lda + l]) · B (packed), with the epilogue; rows [row0,
/// row1), panels [p0, p1). (A 1×1 stride-1 convolution is this with lda = the input's pixel stride.)
void hs_gemm_rows(hs_isa isa, const float *a, long lda, const float *packed, int k, int n,
                  float *c, long ldc, hs_epilogue epilogue, long row0, long row1, int p0, int p1, void *scratch);

/// Winograd F(m×m, r×r) with a 6×6 tile (m + r − 1 = 6): F(4×4, 3×3) or F(2×2, 5×5), stride 1.
/// Interpolation points 0, ±1, ±2, ∞ (Lavin & Gray 2016); both share the input transform Bᵀ.
typedef struct {
    const float *input; long in_stride;  // (N, h, w, in_stride), cin used
    int h, w, cin;
    int r, pad_top, pad_left;  // kernel size 3 or 5, TensorFlow padding
    int oh, ow;
    const float *packed_u;  // 36 packed cin × n matrices U_t = (G g Gᵀ)_t, each hs_packed_floats(cin, n) apart
    int n;
    hs_epilogue epilogue;
    float *output; long out_stride;
} hs_winograd_desc;

/// Output tile size m for kernel size r (4 for 3, 2 for 5).
int hs_winograd_m(int r);
/// Tiles per image: ceil(oh/m) · ceil(ow/m).
long hs_winograd_tiles(const hs_winograd_desc *d);
/// Tiles per block (the unit of work whose transformed data stays in cache) for this layer.
int hs_winograd_block(hs_isa isa, const hs_winograd_desc *d);
/// Scratch bytes one thread needs: transformed input and products for one block, pointers, edge tiles.
size_t hs_winograd_scratch_bytes(hs_isa isa, const hs_winograd_desc *d);
/// Transforms a Keras kernel (r, r, cin, n) into the 36 packed U_t (dst: 36 · hs_packed_floats(cin, n)).
/// Computed in double, rounded once to float.
void hs_winograd_pack_kernel(hs_isa isa, float *dst, const float *kernel, int r, int cin, int n);
/// Tiles [tile0, tile1) (flat over image, tile row, tile column) × column panels [p0, p1). Each thread
/// transforms its tiles' input for all cin channels; splitting panels repeats that transform per thread.
void hs_winograd_forward(hs_isa isa, const hs_winograd_desc *d, long tile0, long tile1, int p0, int p1, void *scratch);

/// Max pooling 3×3, stride 2, 'valid', for output lines [l0, l1) (flat over image, oy).
/// out: (N, oh, ow, out_stride); inp: (N, h, w, in_stride); c channels from each pointer.
void hs_maxpool3x3s2(hs_isa isa, float *out, long out_stride, const float *inp, long in_stride,
                     int c, int h, int w, int oh, int ow, long l0, long l1);

/// Average pooling 3×3, stride 1, 'same', dividing by the cells inside the image (as Keras/TensorFlow), for
/// lines [l0, l1) (flat over image, y); with `bias`, then max(0, avg + bias) (a pool branch whose 1×1
/// convolution ran before the pooling). out: (N, h, w, out_stride); inp: (N, h, w, in_stride).
void hs_avgpool3x3same(hs_isa isa, float *out, long out_stride, const float *inp, long in_stride,
                       int c, int h, int w, const float *bias, long l0, long l1);

/// The dense head's first layer (HeadTrain), w1 (F × H) in Keras's layout, rows of w1 taken in tiles of
/// `tile_rows` whose packed copy stays in L2:
/// - hs_head_update: for each tile, the gradient xᵀ[tile] · dh (K = B) in the micro-kernel's registers,
///   RMSprop on w1 and v1 straight from them (no gradient is stored), then, with x_next, the next batch's
///   partial (B_next × H) += x_next[:, tile] · w1[tile] from the updated tile while it is in cache;
/// - hs_head_forward: partial (B × H) += x[:, tile] · w1[tile] (tiles packed on the way).
/// Rows [f0, f1) of w1; partial is overwritten by the first tile unless `accumulate`. Each output sums in a fixed
/// order (tile by tile, k in order), so results depend on the row split and tile size, not on timing.
typedef struct {
    const float *x; long ldx;     // (B, F) the batch's features
    int B, H;
    const float *dh_packed;       // ∂L/∂hpre (B × H), packed (hs_pack_b with k = B, n = H)
    float *w1, *v1; long ldw;     // (F, H) weights and RMSprop velocity
    float lr, rho, one_minus_rho, eps;
    const float *x_next; int B_next;  // (B_next, F) or NULL
    float *partial;               // (B_next × H) for update, (B × H) for forward; ld H
    int tile_rows;
} hs_head_desc;

size_t hs_head_scratch_bytes(hs_isa isa, int B, int H, int tile_rows);
void hs_head_update(hs_isa isa, const hs_head_desc *d, long f0, long f1, int accumulate, void *scratch);
void hs_head_forward(hs_isa isa, const hs_head_desc *d, long f0, long f1, int accumulate, void *scratch);

/// Sets this thread's SSE control register (MXCSR) to flush denormal results to zero and read denormal operands as
/// zero (FTZ and DAZ), as TensorFlow's thread pools run, and returns the previous value for `hs_fp_mode_restore`.
/// Underflowing gradients (a saturated sigmoid, a learning rate of 1e-5) otherwise reach the denormal range, where
/// every multiply takes a microcode assist: measured 13.4 s against 8.5 s for a fine-tuning epoch on an AVX-512
/// host. Values below 1.2e-38 become 0; nothing else changes. A no-op (returning 0) off x86.
static inline unsigned hs_fp_flush_denormals(void) {
#if defined(__x86_64__)
    unsigned old = __builtin_ia32_stmxcsr();
    __builtin_ia32_ldmxcsr(old | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
    return old;
#else
    return 0;
#endif
}

/// Puts back the MXCSR value `hs_fp_flush_denormals` returned.
static inline void hs_fp_mode_restore(unsigned old) {
#if defined(__x86_64__)
    __builtin_ia32_ldmxcsr(old);
#else
    (void)old;
#endif
}

/// A spin-wait hint (x86 PAUSE): lets the other hardware thread run and saves power while a thread polls.
static inline void hs_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/// A 1×k or k×1 convolution (stride 1, TensorFlow padding) by one-dimensional Winograd on 6-point tiles:
/// k = 3 as F(4, 3); k = 5 as F(2, 5); k = 7 as F(3, 4) on taps 0–3 plus F(4, 3) on taps 4–6, the two parts
/// summed before the bias (30 multiplications for 7 outputs instead of 49 on a 7-wide map).
/// A "line" is the input's extent along the kernel's axis: an image row (1×k) or column (k×1).
typedef struct {
    const float *input; long in_stride;  // (N, h, w, in_stride), cin used
    int h, w, cin;
    int axis;  // 0: along x (kernel 1×k), 1: along y (kernel k×1)
    int k, pad;  // taps, and the leading pad along the axis
    const float *packed_u;  // per part, 6 packed cin × n matrices (hs_winograd1d_pack_kernel)
    int n;
    hs_epilogue epilogue;
    float *output; long out_stride;  // same spatial size as the input
} hs_winograd1d_desc;

/// Lines per image (h for a 1×k kernel, w for k×1).
long hs_winograd1d_lines(const hs_winograd1d_desc *d);
/// Floats of the packed transformed kernel.
size_t hs_winograd1d_packed_floats(hs_isa isa, int k, int cin, int n);
/// Transforms a Keras kernel (1, k, cin, n) or (k, 1, cin, n) (the same memory) into its packed parts.
void hs_winograd1d_pack_kernel(hs_isa isa, float *dst, const float *kernel, int k, int cin, int n);
size_t hs_winograd1d_scratch_bytes(hs_isa isa, const hs_winograd1d_desc *d);
/// Lines [line0, line1) (flat over image and line) × column panels [p0, p1).
void hs_winograd1d_forward(hs_isa isa, const hs_winograd1d_desc *d, long line0, long line1, int p0, int p1, void *scratch);

#ifdef __cplusplus
}
#endif
#endif
