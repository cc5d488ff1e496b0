// The kernels, written once for a vector type V of VL floats and a register tile of MR × NR. Included by
// kernels_avx512.c, kernels_avx2.c and kernels_scalar.c, each defining:
//   V, VL, MR, NR (a multiple of VL), KC (K block), MC (rows per block), FN(name) (the public name suffix),
//   vzero(), vload(p), vstore(p, v), vbcast(p), vset1(x), vadd, vsub, vmax, vfma(a, b, c) = a·b + c.
// No function here allocates: callers pass scratch sized by the hs_*_scratch_bytes functions.

#include <math.h>
#include <string.h>

#define NV (NR / VL)

/// Zeros that stand for cells outside the image (a piece is at most KC floats long).
static const float zeros[1024] __attribute__((aligned(64)));
_Static_assert(KC <= 1024, "KC must not exceed the zero buffer");

// The accumulators are named variables (acc_r_v, one per row r and vector v of the tile), declared and used
// through the ROWS / COLS lists each instruction-set file defines: written as arrays, the compiler spilled
// them to the stack inside the loop, at a third of the speed.
#define ACC(r, v) acc_##r##_##v
#define DECLARE_ACC(r, v) V ACC(r, v) = vzero();
#define DECLARE_ROW(r) COLS(DECLARE_ACC, r) const float *a_##r;
#define POINT_ROW(r) a_##r = ptrs[j * MR + r];
#define FMA_ACC(r, v) ACC(r, v) = vfma(av_##r, bv[v], ACC(r, v));
#define FMA_ROW(r) { const V av_##r = vbcast(a_##r + k); COLS(FMA_ACC, r) }
#define STORE_ACC(r, v) {                                                                   \
        float *cp = c + r * ldc + v * VL;                                                   \
        V x = ACC(r, v);                                                                    \
        if (!first) x = vadd(x, vload(cp));                                                 \
        if (last) {                                                                         \
            if (bias) x = vadd(x, vload(bias + v * VL));                                    \
            if (relu) x = vmax(x, vzero());                                                 \
        }                                                                                   \
        vstore(cp, x);                                                                      \
    }
#define STORE_ROW(r) COLS(STORE_ACC, r)
#define SPILL_ACC(r, v) vstore(tmp + r * NR + v * VL, ACC(r, v));
#define SPILL_ROW(r) COLS(SPILL_ACC, r)

/// The micro-kernel's loop: acc_r_v = Σ over pieces j and k < lens[j] of a_j[r][k] · b[k][v·VL ..< (v+1)·VL],
/// b advancing NR floats per k (a packed panel). Expects npieces, lens, ptrs, b, pf in scope: pf advances with
/// b and is prefetched (the next panel's weights, while the first row group of this one runs: at batch 1 the
/// weights come from memory and would otherwise stall every panel's first micro-kernel).
#define ACCUMULATE_PIECES                                                                   \
    ROWS(DECLARE_ROW)                                                                       \
    for (int j = 0; j < npieces; j++) {                                                     \
        ROWS(POINT_ROW)                                                                     \
        const int len = lens[j];                                                            \
        _Pragma("clang loop unroll_count(2)")                                               \
        for (int k = 0; k < len; k++) {                                                     \
            V bv[NV];                                                                       \
            for (int v = 0; v < NV; v++) bv[v] = vload(b + v * VL);                         \
            for (int l = 0; l < NR; l += 16) __builtin_prefetch(pf + l, 0, 3);              \
            ROWS(FMA_ROW)                                                                   \
            b += NR;                                                                        \
            pf += NR;                                                                       \
        }                                                                                   \
    }

/// One MR × NR tile of C: acc = Σ over pieces j and k < lens[j] of a_j[r][k] · b[k][0..<NR], then stored:
/// first K block: C = acc, later blocks: C += acc; after the last block, the epilogue (bias, ReLU).
/// ptrs: (npieces, MR) row pointers, each at its piece's first element; b: the panel at the block's first k,
/// NR floats per k; c: the tile's first element, rows ldc apart; only mrows × ncols of it are written.
/// pf: what to prefetch as the loop goes (see ACCUMULATE_PIECES), or b itself.
__attribute__((noinline)) static void ukernel(int npieces, const int *lens, const float *const *ptrs, const float *b,
                                              const float *pf, float *c, long ldc, int first, int last,
                                              const float *bias, int relu, int mrows, int ncols, float *tmp) {
    ACCUMULATE_PIECES
    if (mrows == MR && ncols == NR) {
        ROWS(STORE_ROW)
    } else {
        ROWS(SPILL_ROW)
        for (int r = 0; r < mrows; r++) {
            for (int j = 0; j < ncols; j++) {
                float x = tmp[r * NR + j];
                if (!first) x += c[r * ldc + j];
                if (last) {
                    if (bias) x += bias[j];
                    if (relu) x = x > 0 ? x : 0;
                }
                c[r * ldc + j] = x;
            }
        }
    }
}

/// The head's update tile: g = Σ_k a[r][k] · b[k][·] (the gradient of MR rows × NR columns of w1, never
/// stored), then RMSprop on w and v as Keras computes it, v ← ρv + (1−ρ)g², w ← w − lr·g / √(v + ε) (each
/// product rounded on its own, no fused multiply-add, as HeadTrain's rmsprop_update), and the new w also
/// into `wpk` (rows NR apart: the updated tile packed for the next batch's forward).
#define RMS_ACC(r, v) {                                                                     \
        float *wp = w + r * ldw + v * VL, *vp = vel + r * ldw + v * VL;                     \
        const V g = ACC(r, v);                                                              \
        const V vn = vadd(vmul(rho_, vload(vp)), vmul(omr_, vmul(g, g)));                   \
        vstore(vp, vn);                                                                     \
        const V wn = vsub(vload(wp), vdiv(vmul(lr_, g), vsqrt(vadd(vn, eps_))));            \
        vstore(wp, wn);                                                                     \
        vstore(wpk + r * NR + v * VL, wn);                                                  \
    }
#define RMS_ROW(r) COLS(RMS_ACC, r)

__attribute__((noinline)) static void ukernel_rmsprop(int npieces, const int *lens, const float *const *ptrs,
                                                      const float *b, const float *pf, float *w, float *vel, long ldw, float *wpk,
                                                      float lr, float rho, float omr, float eps,
                                                      int mrows, int ncols, float *tmp) {
    ACCUMULATE_PIECES
    if (mrows == MR && ncols == NR) {
        const V lr_ = vset1(lr), rho_ = vset1(rho), omr_ = vset1(omr), eps_ = vset1(eps);
        ROWS(RMS_ROW)
    } else {
        ROWS(SPILL_ROW)
        for (int r = 0; r < mrows; r++) {
            for (int j = 0; j < ncols; j++) {
                const float g = tmp[r * NR + j];
                const float vn = rho * vel[r * ldw + j] + omr * (g * g);
                vel[r * ldw + j] = vn;
                const float wn = w[r * ldw + j] - (lr * g) / sqrtf(vn + eps);
                w[r * ldw + j] = wn;
                wpk[r * NR + j] = wn;
            }
        }
    }
}

/// How K is cut: each of `segments` runs of `seglen` contiguous floats (one (dy, dx) cell of a convolution,
/// or all of K for a plain GEMM) is split into pieces of at most KC, and consecutive pieces are grouped into
/// blocks of at most KC floats.
typedef struct {
    int segments, seglen, parts, partlen;  // each segment = `parts` pieces of partlen (the last may be shorter)
} kcut;

static kcut cut_k(int segments, int seglen) {
    kcut c;
    c.segments = segments;
    c.seglen = seglen;
    c.parts = (seglen + KC - 1) / KC;
    c.partlen = (seglen + c.parts - 1) / c.parts;
    return c;
}

static inline int piece_len(const kcut *c, int piece) {
    const int part = piece % c->parts;
    const int len = c->seglen - part * c->partlen;
    return len < c->partlen ? len : c->partlen;
}

/// Most pieces in one K block (bounds the per-block tables; a 7×7 kernel has 49 cells).
#define MAX_BLOCK_PIECES 64

/// Pieces [j0, j1) of the next block starting at piece j0: as many as fit in KC floats (at least one).
static inline int block_end(const kcut *c, int j0, int *length) {
    const int total = c->segments * c->parts;
    int j = j0, sum = 0;
    while (j < total && j - j0 < MAX_BLOCK_PIECES && (j == j0 || sum + piece_len(c, j) <= KC)) {
        sum += piece_len(c, j);
        j++;
    }
    *length = sum;
    return j;
}

/// Most pieces one block can hold (bounds the pointer scratch).
static inline int max_block_pieces(int segments) { return segments + 2 < MAX_BLOCK_PIECES ? segments + 2 : MAX_BLOCK_PIECES; }

/// An output row's position: its image and the input cell under its receptive field's top-left corner.
typedef struct { long image; int iy0, ix0; } rowpos;

static inline rowpos row_position(const hs_conv_desc *d, long row) {
    const long pixels = (long)d->oh * d->ow;
    rowpos p;
    p.image = row / pixels;
    const int rem = (int)(row - p.image * pixels);
    const int oy = rem / d->ow, ox = rem - oy * d->ow;
    p.iy0 = oy * d->stride - d->pad_top;
    p.ix0 = ox * d->stride - d->pad_left;
    return p;
}

/// Where row p reads cell (dy, dx) from `offset` on: the input, or zeros outside the image.
static inline const float *cell_source(const hs_conv_desc *d, rowpos p, int dy, int dx, int offset) {
    const int iy = p.iy0 + dy, ix = p.ix0 + dx;
    if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) return zeros;
    return d->input + ((p.image * d->h + iy) * (long)d->w + ix) * d->in_stride + offset;
}

/// Channels below which a convolution gathers each row's receptive field into scratch first (im2col for one
/// block of rows): with 3 input channels (the stem) a piece would be 3 floats long, and the micro-kernel would
/// spend its time starting pieces rather than multiplying.
#define GATHER_BELOW 16


/// How a convolution's K is cut and where its scratch goes (the same arithmetic sizes the scratch).
typedef struct {
    int gather;      // receptive fields gathered into scratch rows first (few input channels)
    kcut kc;
    int K, npieces;
} conv_plan;

static conv_plan plan_conv(int kh, int kw, int cin) {
    conv_plan c;
    c.gather = cin < GATHER_BELOW && kh * kw * cin <= KC;
    c.kc = c.gather ? cut_k(1, kh * kw * cin) : cut_k(kh * kw, cin);
    c.K = kh * kw * cin;
    c.npieces = c.kc.segments * c.kc.parts;
    return c;
}

/// Fills ptrs[(g · npieces + j) · MR + r] with where row g·MR + r of the block reads piece j (zeros past mc).
static void point_rows(const hs_conv_desc *d, const conv_plan *c, long m0, int mc, int groups, const float **ptrs,
                       const float *rows) {
    const int np = c->npieces;
    for (int row = 0; row < groups * MR; row++) {
        const float **dst = ptrs + (size_t)(row / MR) * np * MR + row % MR;
        if (row >= mc) {
            for (int j = 0; j < np; j++) dst[j * MR] = zeros;
        } else if (c->gather) {
            for (int j = 0; j < np; j++) dst[j * MR] = rows + (size_t)row * c->K + (size_t)j * c->kc.partlen;
        } else {
            const rowpos pos = row_position(d, m0 + row);
            for (int j = 0; j < np; j++) {
                const int seg = j / c->kc.parts, dy = seg / d->kw, dx = seg - dy * d->kw;
                dst[j * MR] = cell_source(d, pos, dy, dx, (j - seg * c->kc.parts) * c->kc.partlen);
            }
        }
    }
}

/// Gathers the receptive fields of rows m0 ..< m0 + mc into rows (mc, K).
static void gather_rows(const hs_conv_desc *d, const conv_plan *c, long m0, int mc, float *rows) {
    // A kernel row of a dense input (in_stride == cin) lying inside the image is kw·cin contiguous floats.
    const int dense = d->in_stride == d->cin, span = d->kw * d->cin;
    for (int row = 0; row < mc; row++) {
        const rowpos pos = row_position(d, m0 + row);
        float *dst = rows + (size_t)row * c->K;
        const int inside_x = pos.ix0 >= 0 && pos.ix0 + d->kw <= d->w;
        for (int dy = 0; dy < d->kh; dy++) {
            const int iy = pos.iy0 + dy;
            if (dense && inside_x && iy >= 0 && iy < d->h) {
                memcpy(dst, cell_source(d, pos, dy, 0, 0), (size_t)span * sizeof(float));
                dst += span;
                continue;
            }
            for (int dx = 0; dx < d->kw; dx++) {
                const float *src = cell_source(d, pos, dy, dx, 0);
                for (int ci = 0; ci < d->cin; ci++) *dst++ = src[ci];
            }
        }
    }
}

/// The convolution driver; with `accumulate`, the first K block adds to C instead of overwriting it.
/// Rows go in blocks of MC; within a block, K in blocks of at most KC (pieces grouped by block_end). With
/// several row blocks, K blocks are the outer loop, so a block of rows stays in cache across all panels; with
/// one (a single image), panels are, so each panel's weights stream from memory in one sequential run.
static void conv_core(const hs_conv_desc *d, long row0, long row1, int p0, int p1, void *scratch, int accumulate) {
    const conv_plan c = plan_conv(d->kh, d->kw, d->cin);
    const int np = c.npieces;
    const float **ptrs = (const float **)scratch;                        // (MC/MR groups, pieces, MR)
    int *lens = (int *)(ptrs + (size_t)MC * np);                         // (pieces)
    int *block_start = lens + np, *block_koff = block_start + np + 1;    // (blocks + 1) each
    float *tmp = (float *)(((uintptr_t)(block_koff + np + 1) + 63) & ~(uintptr_t)63);
    float *rows = tmp + MR * NR;  // (MC, K) gathered receptive fields, when gathering
    int blocks = 0;
    for (int j = 0, koff = 0; j < np; blocks++) {
        int blen;
        block_start[blocks] = j;
        block_koff[blocks] = koff;
        j = block_end(&c.kc, j, &blen);
        koff += blen;
    }
    block_start[blocks] = np;
    for (int j = 0; j < np; j++) lens[j] = piece_len(&c.kc, j);
    const int stream_panels = row1 - row0 <= MC;
    for (long m0 = row0; m0 < row1; m0 += MC) {
        const int mc = (int)(row1 - m0 < MC ? row1 - m0 : MC);
        const int groups = (mc + MR - 1) / MR;
        if (c.gather) gather_rows(d, &c, m0, mc, rows);
        point_rows(d, &c, m0, mc, groups, ptrs, rows);
        const int outer = stream_panels ? p1 - p0 : blocks, inner = stream_panels ? blocks : p1 - p0;
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                const int p = p0 + (stream_panels ? o : i), kb = stream_panels ? i : o;
                const int j0 = block_start[kb], bp = block_start[kb + 1] - j0;
                const float *panel = d->packed + (size_t)p * c.K * NR;
                const float *b = panel + (size_t)block_koff[kb] * NR;
                // Prefetched during the first row group: what the loop reads next from memory.
                const float *next = stream_panels ? (kb + 1 < blocks ? panel + (size_t)block_koff[kb + 1] * NR : b)
                                                  : (p + 1 < p1 ? b + (size_t)c.K * NR : b);
                const int first = kb == 0 && !accumulate, last = kb == blocks - 1;
                const int ncols = d->n - p * NR < NR ? d->n - p * NR : NR;
                const float *bias = d->epilogue.bias ? d->epilogue.bias + p * NR : NULL;
                for (int g = 0; g < groups; g++) {
                    const int mrows = mc - g * MR < MR ? mc - g * MR : MR;
                    ukernel(bp, lens + j0, ptrs + ((size_t)g * np + j0) * MR, b, g == 0 ? next : b,
                            d->output + (m0 + g * MR) * d->out_stride + p * NR, d->out_stride,
                            first, last, bias, d->epilogue.relu, mrows, ncols, tmp);
                }
            }
        }
    }
}

static void FN(conv_forward)(const hs_conv_desc *d, long row0, long row1, int p0, int p1, void *scratch) {
    conv_core(d, row0, row1, p0, p1, scratch, 0);
}

/// Scratch for a convolution of kernel kh × kw and at most `cin` input channels (any fewer fit too).
static size_t FN(conv_scratch_bytes)(int kh, int kw, int cin) {
    size_t most = 0;  // the largest layout over every channel count up to cin (pieces grow with cin)
    for (int c = 1; c <= cin; c = c < GATHER_BELOW ? c + 1 : (c == cin ? cin + 1 : cin)) {
        const conv_plan p = plan_conv(kh, kw, c);
        const size_t np = (size_t)p.npieces;
        const size_t bytes = (size_t)MC * np * sizeof(float *) + (3 * np + 2) * sizeof(int) + 64
            + (size_t)MR * NR * sizeof(float) + (p.gather ? (size_t)MC * p.K * sizeof(float) : 0);
        if (bytes > most) most = bytes;
    }
    return most;
}

/// C (+)= A · B (packed): a plain GEMM is the 1×1 convolution of a 1 × row1 "image" whose pixels are A's rows.
static void gemm_core(const float *a, long lda, const float *packed, int k, int n, float *c, long ldc,
                      hs_epilogue e, long row0, long row1, int p0, int p1, void *scratch, int accumulate) {
    const hs_conv_desc d = {
        .input = a, .in_stride = lda, .h = 1, .w = (int)row1, .cin = k,
        .kh = 1, .kw = 1, .stride = 1, .pad_top = 0, .pad_left = 0, .oh = 1, .ow = (int)row1,
        .packed = packed, .n = n, .epilogue = e, .output = c, .out_stride = ldc,
    };
    conv_core(&d, row0, row1, p0, p1, scratch, accumulate);
}

static void FN(gemm_rows)(const float *a, long lda, const float *packed, int k, int n, float *c, long ldc,
                          hs_epilogue e, long row0, long row1, int p0, int p1, void *scratch) {
    gemm_core(a, lda, packed, k, n, c, ldc, e, row0, row1, p0, p1, scratch, 0);
}

// MARK: - Winograd F(m×m, r×r), 6×6 tiles

#define WT V
#define WSUFFIX _v
#define WLOAD(p) vload(p)
#define WSTORE(p, x) vstore(p, x)
#define WSET1(x) vset1(x)
#define WZERO() vzero()
#define WADD(a, b) vadd(a, b)
#define WSUB(a, b) vsub(a, b)
#define WMAX(a, b) vmax(a, b)
#define WFMA(a, b, c) vfma(a, b, c)
#include "winograd_transforms.h"  // undefines the W* parameters

#define WT float
#define WSUFFIX _s
#define WLOAD(p) (*(p))
#define WSTORE(p, x) (*(p) = (x))
#define WSET1(x) (x)
#define WZERO() 0.0f
#define WADD(a, b) ((a) + (b))
#define WSUB(a, b) ((a) - (b))
#define WMAX(a, b) ((a) > (b) ? (a) : (b))
#define WFMA(a, b, c) ((a) * (b) + (c))
#include "winograd_transforms.h"  // undefines the W* parameters

/// Transforms the input of tiles t0 ..< t0 + nt: V[pt][i][c] = (Bᵀ d_i B)[pt] for every channel.
/// Where tile t lies: its image and the output row and column of its top-left corner (tiles m × m, row-major
/// over each image's output).
typedef struct { long img; int oy0, ox0; } tilepos;

static inline tilepos tile_position(const hs_winograd_desc *d, int m, long t) {
    const int tiles_x = (d->ow + m - 1) / m, tiles_y = (d->oh + m - 1) / m;
    const long per_image = (long)tiles_x * tiles_y;
    tilepos p;
    p.img = t / per_image;
    const long rem = t - p.img * per_image;
    const int ty = (int)(rem / tiles_x);
    p.oy0 = ty * m;
    p.ox0 = (int)(rem - (long)ty * tiles_x) * m;
    return p;
}

static void winograd_input(const hs_winograd_desc *d, int m, long t0, int nt, float *V, int T) {
    const size_t pts = (size_t)T * d->cin;
    for (int i = 0; i < nt; i++) {
        const tilepos p = tile_position(d, m, t0 + i);
        const int iy0 = p.oy0 - d->pad_top, ix0 = p.ox0 - d->pad_left;
        float *dst = V + (size_t)i * d->cin;
        int c = 0;
        for (; c + VL <= d->cin; c += VL) input_tile_v(d, p.img, iy0, ix0, c, dst + c, pts);
        for (; c < d->cin; c++) input_tile_s(d, p.img, iy0, ix0, c, dst + c, pts);
    }
}

/// Output transform of tiles t0 ..< t0 + nt for channels [c0, c1): y = Aᵀ M A, + bias, ReLU, stored where the
/// tile lies inside the output.
static void winograd_output(const hs_winograd_desc *d, int m, long t0, int nt, const float *M, int T, int c0, int c1) {
    const size_t pts = (size_t)T * d->n;
    for (int i = 0; i < nt; i++) {
        const tilepos p = tile_position(d, m, t0 + i);
        const float *src = M + (size_t)i * d->n;
        int c = c0;
        for (; c + VL <= c1; c += VL) output_tile_v(d, m, p.img, p.oy0, p.ox0, c, src + c, pts);
        for (; c < c1; c++) output_tile_s(d, m, p.img, p.oy0, p.ox0, c, src + c, pts);
    }
}

static int FN(winograd_block)(const hs_winograd_desc *d) {
    // Transformed input and products of a block: 36 · T · (cin + n) floats, kept near 256 KB (L2).
    const long per_tile = 36L * (d->cin + d->n) * (long)sizeof(float);
    long groups = (512L * 1024) / (per_tile * MR);
    if (groups < 1) groups = 1;
    if (groups > 16) groups = 16;
    return (int)groups * MR;
}

static size_t FN(winograd_scratch_bytes)(const hs_winograd_desc *d) {
    const size_t T = (size_t)FN(winograd_block)(d);
    return 36 * T * ((size_t)d->cin + (size_t)d->n) * sizeof(float) + 64
        + T * (size_t)max_block_pieces(1) * sizeof(float *) + (size_t)max_block_pieces(1) * sizeof(int) + 64
        + (size_t)MR * NR * sizeof(float);
}

/// One transformed-domain product: out (rows × n, ldc n) = V (rows × cin, rows cin apart) · U (packed), for
/// panels [p0, p1); no epilogue (the output transform adds the bias).
static void transformed_gemm(const float *V, int rows, int cin, const float *U, float *out, int n, int p0, int p1,
                             const float **ptrs, int *lens, float *tmp) {
    const kcut kc = cut_k(1, cin);
    const int groups = (rows + MR - 1) / MR;
    int koff = 0;
    for (int j0 = 0; j0 < kc.parts;) {
        int blen;
        const int j1 = block_end(&kc, j0, &blen);
        const int bp = j1 - j0;
        for (int j = j0; j < j1; j++) lens[j - j0] = piece_len(&kc, j);
        for (int g = 0; g < groups; g++)
            for (int j = j0; j < j1; j++)
                for (int r = 0; r < MR; r++) {
                    const int row = g * MR + r;
                    ptrs[((size_t)g * bp + (j - j0)) * MR + r] =
                        row < rows ? V + (size_t)row * cin + (size_t)j * kc.partlen : zeros;
                }
        for (int p = p0; p < p1; p++) {
            const float *b = U + (size_t)p * cin * NR + (size_t)koff * NR;
            const int ncols = n - p * NR < NR ? n - p * NR : NR;
            const float *next = p + 1 < p1 ? b + (size_t)cin * NR : b;
            for (int g = 0; g < groups; g++) {
                const int mrows = rows - g * MR < MR ? rows - g * MR : MR;
                ukernel(bp, lens, ptrs + (size_t)g * bp * MR, b, g == 0 ? next : b, out + (size_t)g * MR * n + p * NR, n,
                        j0 == 0, j1 == kc.parts, NULL, 0, mrows, ncols, tmp);
            }
        }
        koff += blen;
        j0 = j1;
    }
}

static void FN(winograd_forward)(const hs_winograd_desc *d, long tile0, long tile1, int p0, int p1, void *scratch) {
    const int m = hs_winograd_m(d->r);
    const int T = FN(winograd_block)(d);
    const int cin = d->cin, n = d->n;
    float *Vb = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);  // (36, T, cin)
    float *Mb = Vb + (size_t)36 * T * cin;                               // (36, T, n)
    const float **ptrs = (const float **)(Mb + (size_t)36 * T * n);       // (T/MR groups, pieces, MR)
    int *lens = (int *)(ptrs + (size_t)T * max_block_pieces(1));
    float *tmp = (float *)(((uintptr_t)(lens + max_block_pieces(1)) + 63) & ~(uintptr_t)63);
    const int c0 = p0 * NR, c1 = p1 * NR < n ? p1 * NR : n;
    const size_t per_point = hs_packed_floats(HS_THIS_ISA, cin, n);
    for (long t0 = tile0; t0 < tile1; t0 += T) {
        const int nt = (int)(tile1 - t0 < T ? tile1 - t0 : T);
        winograd_input(d, m, t0, nt, Vb, T);
        for (int pt = 0; pt < 36; pt++)
            transformed_gemm(Vb + (size_t)pt * T * cin, nt, cin, d->packed_u + pt * per_point,
                             Mb + (size_t)pt * T * n, n, p0, p1, ptrs, lens, tmp);
        winograd_output(d, m, t0, nt, Mb, T, c0, c1);
    }
}

// MARK: - One-dimensional Winograd (1×k, k×1)

/// Lines per block: the block's transformed input and products, 6 · tiles · (cin + n) floats, near 512 KB.
static int FN(winograd1d_block)(const hs_winograd1d_desc *d) {
    const hs_w1d_split sp = hs_w1d_split_of(d->k);
    const int length = d->axis == 0 ? d->w : d->h;
    long tiles = 0;
    for (int p = 0; p < sp.parts; p++) tiles += (length + sp.m[p] - 1) / sp.m[p];
    const long per_line = 6L * tiles * (d->cin + d->n) * (long)sizeof(float);
    long lines = (512L * 1024) / per_line;
    if (lines < 1) lines = 1;
    if (lines > 256) lines = 256;
    return (int)lines;
}

static size_t FN(winograd1d_scratch_bytes)(const hs_winograd1d_desc *d) {
    const hs_w1d_split sp = hs_w1d_split_of(d->k);
    const int length = d->axis == 0 ? d->w : d->h;
    const size_t B = (size_t)FN(winograd1d_block)(d);
    size_t floats = 0, rows = 0;
    for (int p = 0; p < sp.parts; p++) {
        const size_t t = B * (size_t)((length + sp.m[p] - 1) / sp.m[p]);
        floats += 6 * t * ((size_t)d->cin + (size_t)d->n);
        rows = t > rows ? t : rows;
    }
    const size_t groups = (rows + MR - 1) / MR;
    return floats * sizeof(float) + 64 + groups * MR * (size_t)max_block_pieces(1) * sizeof(float *)
        + (size_t)max_block_pieces(1) * sizeof(int) + 64 + (size_t)MR * NR * sizeof(float);
}

static void FN(winograd1d_forward)(const hs_winograd1d_desc *d, long line0, long line1, int p0, int p1, void *scratch) {
    const hs_w1d_split sp = hs_w1d_split_of(d->k);
    const int cin = d->cin, n = d->n;
    const int length = d->axis == 0 ? d->w : d->h;              // positions along the axis
    const int per_image = d->axis == 0 ? d->h : d->w;           // lines per image
    const long in_step = d->axis == 0 ? d->in_stride : (long)d->w * d->in_stride;
    const long out_step = d->axis == 0 ? d->out_stride : (long)d->w * d->out_stride;
    const int B = FN(winograd1d_block)(d);
    int tiles[2];
    float *Vp[2], *Mp[2];
    float *cursor = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    int rows_max = 0;
    for (int p = 0; p < sp.parts; p++) {
        tiles[p] = (length + sp.m[p] - 1) / sp.m[p];
        Vp[p] = cursor; cursor += (size_t)6 * B * tiles[p] * cin;
        Mp[p] = cursor; cursor += (size_t)6 * B * tiles[p] * n;
        if (B * tiles[p] > rows_max) rows_max = B * tiles[p];
    }
    const float **ptrs = (const float **)cursor;
    int *lens = (int *)(ptrs + (size_t)((rows_max + MR - 1) / MR) * MR * max_block_pieces(1));
    float *tmp = (float *)(((uintptr_t)(lens + max_block_pieces(1)) + 63) & ~(uintptr_t)63);
    const int c0 = p0 * NR, c1 = p1 * NR < n ? p1 * NR : n;
    const size_t per_point = hs_packed_floats(HS_THIS_ISA, cin, n);
    for (long l0 = line0; l0 < line1; l0 += B) {
        const int nl = (int)(line1 - l0 < B ? line1 - l0 : B);
        for (int p = 0; p < sp.parts; p++) {
            const int rows = nl * tiles[p];
            const size_t pts = (size_t)B * tiles[p] * cin;
            for (int i = 0; i < nl; i++) {
                const long line = l0 + i, img = line / per_image;
                const int j = (int)(line - img * per_image);
                const float *base = d->input + (d->axis == 0 ? (img * d->h + j) * (long)d->w : img * d->h * (long)d->w + j) * d->in_stride;
                for (int t = 0; t < tiles[p]; t++) {
                    const int pos0 = t * sp.m[p] - d->pad + sp.first_tap[p];
                    float *dst = Vp[p] + (size_t)(i * tiles[p] + t) * cin;
                    int c = 0;
                    for (; c + VL <= cin; c += VL) input_line_tile_v(base + c, in_step, length, pos0, dst + c, pts);
                    for (; c < cin; c++) input_line_tile_s(base + c, in_step, length, pos0, dst + c, pts);
                }
            }
            for (int pt = 0; pt < 6; pt++)
                transformed_gemm(Vp[p] + (size_t)pt * B * tiles[p] * cin, rows, cin,
                                 d->packed_u + (size_t)(p * 6 + pt) * per_point, Mp[p] + (size_t)pt * B * tiles[p] * n,
                                 n, p0, p1, ptrs, lens, tmp);
        }
        for (int i = 0; i < nl; i++) {
            const long line = l0 + i, img = line / per_image;
            const int j = (int)(line - img * per_image);
            float *base = d->output + (d->axis == 0 ? (img * d->h + j) * (long)d->w : img * d->h * (long)d->w + j) * d->out_stride;
            int c = c0;
            for (; c + VL <= c1; c += VL) {
                const V bias = d->epilogue.bias ? vload(d->epilogue.bias + c) : vzero();
                for (int p = 0; p < sp.parts; p++)
                    for (int t = 0; t < tiles[p]; t++)
                        output_line_tile_v(d, sp.m[p], Mp[p] + (size_t)(i * tiles[p] + t) * n + c, (size_t)B * tiles[p] * n,
                                           base + c, out_step, length, t * sp.m[p], p == 0, p == sp.parts - 1, bias);
            }
            for (; c < c1; c++) {
                const float bias = d->epilogue.bias ? d->epilogue.bias[c] : 0.0f;
                for (int p = 0; p < sp.parts; p++)
                    for (int t = 0; t < tiles[p]; t++)
                        output_line_tile_s(d, sp.m[p], Mp[p] + (size_t)(i * tiles[p] + t) * n + c, (size_t)B * tiles[p] * n,
                                           base + c, out_step, length, t * sp.m[p], p == 0, p == sp.parts - 1, bias);
            }
        }
    }
}

// MARK: - Pooling (vectors over channels)

static void FN(maxpool3x3s2)(float *out, long out_stride, const float *inp, long in_stride, int c, int h, int w,
                             int oh, int ow, long l0, long l1) {
    for (long line = l0; line < l1; line++) {
        const long img = line / oh;
        const int oy = (int)(line - img * oh);
        for (int ox = 0; ox < ow; ox++) {
            float *o = out + ((img * oh + oy) * (long)ow + ox) * out_stride;
            const float *base = inp + ((img * h + oy * 2) * (long)w + ox * 2) * in_stride;
            int j = 0;
            for (; j + VL <= c; j += VL) {
                V m = vload(base + j);
                for (int dy = 0; dy < 3; dy++)
                    for (int dx = 0; dx < 3; dx++) m = vmax(m, vload(base + (dy * (long)w + dx) * in_stride + j));
                vstore(o + j, m);
            }
            for (; j < c; j++) {
                float m = base[j];
                for (int dy = 0; dy < 3; dy++)
                    for (int dx = 0; dx < 3; dx++) {
                        const float v = base[(dy * (long)w + dx) * in_stride + j];
                        m = v > m ? v : m;
                    }
                o[j] = m;
            }
        }
    }
}

static void FN(avgpool3x3same)(float *out, long out_stride, const float *inp, long in_stride, int c, int h, int w,
                               const float *bias, long l0, long l1) {
    for (long line = l0; line < l1; line++) {
        const long img = line / h;
        const int y = (int)(line - img * h);
        const int y0 = y > 0 ? y - 1 : 0, y1 = y + 1 < h ? y + 1 : h - 1;
        for (int x = 0; x < w; x++) {
            const int x0 = x > 0 ? x - 1 : 0, x1 = x + 1 < w ? x + 1 : w - 1;
            const float count = (float)((y1 - y0 + 1) * (x1 - x0 + 1));
            float *o = out + ((img * h + y) * (long)w + x) * out_stride;
            int j = 0;
            for (; j + VL <= c; j += VL) {
                V sum = vzero();
                for (int iy = y0; iy <= y1; iy++)
                    for (int ix = x0; ix <= x1; ix++) sum = vadd(sum, vload(inp + ((img * h + iy) * (long)w + ix) * in_stride + j));
                V avg = vdiv(sum, vset1(count));
                if (bias) avg = vmax(vadd(avg, vload(bias + j)), vzero());
                vstore(o + j, avg);
            }
            for (; j < c; j++) {
                float sum = 0;
                for (int iy = y0; iy <= y1; iy++)
                    for (int ix = x0; ix <= x1; ix++) sum += inp[((img * h + iy) * (long)w + ix) * in_stride + j];
                float avg = sum / count;
                if (bias) { avg += bias[j]; avg = avg > 0 ? avg : 0; }
                o[j] = avg;
            }
        }
    }
}

// MARK: - The dense head's first layer (HeadTrain)

/// Rows per tile the head's drivers take: the tile's packed weights (T × H) stay in L2 between the update
/// and the next batch's forward.
static size_t FN(head_scratch_bytes)(int B, int H, int T) {
    const size_t panels = (size_t)((H + NR - 1) / NR);
    const size_t pieces = (size_t)((B + KC - 1) / KC) + 1;
    return 64 + (size_t)T * B * sizeof(float) + 64 + panels * NR * (size_t)T * sizeof(float) + 64
        + (size_t)((T + MR - 1) / MR) * MR * pieces * sizeof(float *) + pieces * sizeof(int) + 64
        + (size_t)MR * NR * sizeof(float) + FN(conv_scratch_bytes)(1, 1, T);
}

typedef struct { float *xt, *wpk; const float **ptrs; int *lens; float *tmp; void *gemm; } head_scratch;

static head_scratch head_layout(int B, int H, int T, void *scratch) {
    head_scratch s;
    const size_t panels = (size_t)((H + NR - 1) / NR);
    const size_t pieces = (size_t)((B + KC - 1) / KC) + 1;
    uintptr_t p = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
    s.xt = (float *)p; p += (size_t)T * B * sizeof(float);
    p = (p + 63) & ~(uintptr_t)63;
    s.wpk = (float *)p; p += panels * NR * (size_t)T * sizeof(float);
    p = (p + 63) & ~(uintptr_t)63;
    s.ptrs = (const float **)p; p += (size_t)((T + MR - 1) / MR) * MR * pieces * sizeof(float *);
    s.lens = (int *)p; p += pieces * sizeof(int);
    p = (p + 63) & ~(uintptr_t)63;
    s.tmp = (float *)p; p += (size_t)MR * NR * sizeof(float);
    s.gemm = (void *)p;
    return s;
}

/// partial (Bn × H) (+)= x[:, r0 .. r0+rows] · wpk, wpk the tile packed with panel stride rows·NR.
static void head_tile_forward(const hs_head_desc *d, const float *x, int Bn, long r0, int rows, const float *wpk,
                              int accumulate, head_scratch *s) {
    const int panels = (d->H + NR - 1) / NR;
    const hs_epilogue none = {NULL, 0};
    gemm_core(x + r0, d->ldx, wpk, rows, d->H, d->partial, d->H, none, 0, Bn, 0, panels, s->gemm, accumulate);
}

/// Packs rows [r0, r0 + rows) of w1 into panels (NR columns, panel stride rows·NR).
static void pack_w1_tile(const hs_head_desc *d, long r0, int rows, float *wpk) {
    const int panels = (d->H + NR - 1) / NR;
    for (int p = 0; p < panels; p++) {
        float *dst = wpk + (size_t)p * rows * NR;
        const int ncols = d->H - p * NR < NR ? d->H - p * NR : NR;
        for (int i = 0; i < rows; i++) {
            const float *src = d->w1 + (r0 + i) * d->ldw + p * NR;
            int j = 0;
            if (ncols == NR) for (; j < NR; j += VL) vstore(dst + (size_t)i * NR + j, vload(src + j));
            for (; j < NR; j++) dst[(size_t)i * NR + j] = j < ncols ? src[j] : 0.0f;
        }
    }
}

static void FN(head_forward_rows)(const hs_head_desc *d, long f0, long f1, int accumulate, void *scratch) {
    head_scratch s = head_layout(d->B, d->H, d->tile_rows, scratch);
    for (long r0 = f0; r0 < f1; r0 += d->tile_rows) {
        const int rows = (int)(f1 - r0 < d->tile_rows ? f1 - r0 : d->tile_rows);
        pack_w1_tile(d, r0, rows, s.wpk);
        head_tile_forward(d, d->x, d->B, r0, rows, s.wpk, accumulate || r0 > f0, &s);
    }
}

static void FN(head_update_rows)(const hs_head_desc *d, long f0, long f1, int accumulate, void *scratch) {
    const int B = d->B, H = d->H, T = d->tile_rows;
    const int panels = (H + NR - 1) / NR;
    head_scratch s = head_layout(B, H, T, scratch);
    const kcut kc = cut_k(1, B);  // K = the batch, in pieces of at most KC (all in one call: no partial sums)
    for (int j = 0; j < kc.parts; j++) s.lens[j] = piece_len(&kc, j);
    for (long r0 = f0; r0 < f1; r0 += T) {
        const int rows = (int)(f1 - r0 < T ? f1 - r0 : T);
        const int groups = (rows + MR - 1) / MR;
        for (int i = 0; i < rows; i++)  // xᵀ of the tile: (rows, B)
            for (int b = 0; b < B; b++) s.xt[(size_t)i * B + b] = d->x[(size_t)b * d->ldx + r0 + i];
        for (int g = 0; g < groups; g++)
            for (int j = 0; j < kc.parts; j++)
                for (int r = 0; r < MR; r++) {
                    const int row = g * MR + r;
                    s.ptrs[((size_t)g * kc.parts + j) * MR + r] =
                        row < rows ? s.xt + (size_t)row * B + (size_t)j * kc.partlen : zeros;
                }
        // Row groups outside, panels inside: each group's MR rows of w1 and v1 are then read and written
        // front to back, MR sequential streams the prefetchers follow (panels outside walked down 4 KiB
        // strides). Every (group, panel) block is computed alone, so the order changes no value.
        for (int g = 0; g < groups; g++) {
            const int mrows = rows - g * MR < MR ? rows - g * MR : MR;
            const long row = r0 + g * MR;
            for (int p = 0; p < panels; p++) {
                const int ncols = H - p * NR < NR ? H - p * NR : NR;
                const float *b = d->dh_packed + (size_t)p * B * NR;
                ukernel_rmsprop(kc.parts, s.lens, s.ptrs + (size_t)g * kc.parts * MR, b, b,
                                d->w1 + row * d->ldw + p * NR, d->v1 + row * d->ldw + p * NR, d->ldw,
                                s.wpk + (size_t)p * rows * NR + (size_t)g * MR * NR,
                                d->lr, d->rho, d->one_minus_rho, d->eps, mrows, ncols, s.tmp);
            }
        }
        if (d->x_next) head_tile_forward(d, d->x_next, d->B_next, r0, rows, s.wpk, accumulate || r0 > f0, &s);
    }
}
