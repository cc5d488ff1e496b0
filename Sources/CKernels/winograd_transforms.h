// Winograd tile transforms for one element type WT (a vector of channels, or one float for channel tails).
// Included twice by kernels_body.h with WT, WSUFFIX and the W* operations defined.
// Lavin & Gray's matrices for the points 0, ±1, ±2, ∞ (6×6 tiles; checked against direct convolution in the
// tests). Bᵀ is shared by F(4, 3) and F(2, 5); Aᵀ is the first m rows of the points' Vandermonde matrix with
// the point at infinity in the last column.

#define WCAT2(a, b) a##b
#define WCAT(a, b) WCAT2(a, b)
#define WNAME(name) WCAT(name, WSUFFIX)

/// o = Bᵀ d for one column of 6.
static inline void WNAME(bt6)(const WT d[6], WT o[6]) {
    const WT four = WSET1(4.0f), mfour = WSET1(-4.0f), mfive = WSET1(-5.0f), two = WSET1(2.0f), mtwo = WSET1(-2.0f);
    o[0] = WFMA(four, d[0], WFMA(mfive, d[2], d[4]));          //  4d0 − 5d2 + d4
    o[1] = WFMA(mfour, WADD(d[1], d[2]), WADD(d[3], d[4]));   // −4d1 − 4d2 + d3 + d4
    o[2] = WFMA(four, WSUB(d[1], d[2]), WSUB(d[4], d[3]));    //  4d1 − 4d2 − d3 + d4
    o[3] = WFMA(two, WSUB(d[3], d[1]), WSUB(d[4], d[2]));     // −2d1 − d2 + 2d3 + d4
    o[4] = WFMA(mtwo, WSUB(d[3], d[1]), WSUB(d[4], d[2]));    //  2d1 − d2 − 2d3 + d4
    o[5] = WFMA(four, d[1], WFMA(mfive, d[3], d[5]));          //  4d1 − 5d3 + d5
}

/// o[0..<m] = Aᵀ s for one column of 6 (m = 4, 3 or 2: F(4, 3), F(3, 4), F(2, 5)).
static inline void WNAME(at6)(const WT s[6], WT o[4], int m) {
    const WT p12 = WADD(s[1], s[2]), m12 = WSUB(s[1], s[2]);
    const WT p34 = WADD(s[3], s[4]), m34 = WSUB(s[3], s[4]);
    o[0] = WADD(WADD(s[0], p12), p34);                          // s0 + s1 + s2 + s3 + s4
    if (m == 4) {
        o[1] = WFMA(WSET1(2.0f), m34, m12);                     // s1 − s2 + 2s3 − 2s4
        o[2] = WFMA(WSET1(4.0f), p34, p12);                     // s1 + s2 + 4s3 + 4s4
        o[3] = WADD(WFMA(WSET1(8.0f), m34, m12), s[5]);         // s1 − s2 + 8s3 − 8s4 + s5
    } else if (m == 3) {
        o[1] = WFMA(WSET1(2.0f), m34, m12);                     // s1 − s2 + 2s3 − 2s4
        o[2] = WADD(WFMA(WSET1(4.0f), p34, p12), s[5]);         // s1 + s2 + 4s3 + 4s4 + s5
    } else {
        o[1] = WADD(WFMA(WSET1(2.0f), m34, m12), s[5]);         // s1 − s2 + 2s3 − 2s4 + s5
    }
}

/// One tile's input transform for the channels at `c`: dst[pt · ptstride] = (Bᵀ d B)[pt], pt = 6·i + j, where
/// d is the 6×6 window whose top-left input cell is (iy0, ix0) (cells outside the image are 0).
static inline void WNAME(input_tile)(const hs_winograd_desc *d, long img, int iy0, int ix0, int c,
                                     float *dst, size_t ptstride) {
    WT x[6][6], t[6][6];
    const long row = (long)d->w * d->in_stride, col = d->in_stride;
    const long origin = ((img * d->h + iy0) * (long)d->w + ix0) * col + c;  // cell (iy0, ix0), maybe outside
    if (iy0 >= 0 && iy0 + 6 <= d->h && ix0 >= 0 && ix0 + 6 <= d->w) {  // inside the image (most tiles)
        for (int y = 0; y < 6; y++)
            for (int xx = 0; xx < 6; xx++) x[y][xx] = WLOAD(d->input + origin + y * row + xx * col);
    } else {
        for (int y = 0; y < 6; y++) {
            const int iy = iy0 + y;
            for (int xx = 0; xx < 6; xx++) {
                const int ix = ix0 + xx;
                x[y][xx] = (iy >= 0 && iy < d->h && ix >= 0 && ix < d->w) ? WLOAD(d->input + origin + y * row + xx * col) : WZERO();
            }
        }
    }
    for (int j = 0; j < 6; j++) {  // columns: t = Bᵀ x
        WT col[6], o[6];
        for (int y = 0; y < 6; y++) col[y] = x[y][j];
        WNAME(bt6)(col, o);
        for (int y = 0; y < 6; y++) t[y][j] = o[y];
    }
    for (int i = 0; i < 6; i++) {  // rows: v = t B
        WT o[6];
        WNAME(bt6)(t[i], o);
        for (int j = 0; j < 6; j++) WSTORE(dst + (size_t)(i * 6 + j) * ptstride, o[j]);
    }
}

/// One tile's output transform for the channels at `c`: y = Aᵀ s A (m × m) from s[pt] = src[pt · ptstride],
/// then + bias, ReLU, stored at output pixels (oy0 + i, ox0 + j) inside the output.
static inline void WNAME(output_tile)(const hs_winograd_desc *d, int m, long img, int oy0, int ox0, int c,
                                      const float *src, size_t ptstride) {
    WT s[6][6], t[4][6];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) s[i][j] = WLOAD(src + (size_t)(i * 6 + j) * ptstride);
    for (int j = 0; j < 6; j++) {  // columns: t = Aᵀ s
        WT col[6], o[4];
        for (int i = 0; i < 6; i++) col[i] = s[i][j];
        WNAME(at6)(col, o, m);
        for (int i = 0; i < m; i++) t[i][j] = o[i];
    }
    const WT bias = d->epilogue.bias ? WLOAD(d->epilogue.bias + c) : WZERO();
    const long row = (long)d->ow * d->out_stride, col = d->out_stride;
    float *origin = d->output + ((img * d->oh + oy0) * (long)d->ow + ox0) * col + c;
    const int rows = d->oh - oy0 < m ? d->oh - oy0 : m, cols = d->ow - ox0 < m ? d->ow - ox0 : m;
    for (int i = 0; i < rows; i++) {  // rows: y = t A
        WT o[4];
        WNAME(at6)(t[i], o, m);
        for (int j = 0; j < cols; j++) {
            WT y = WADD(o[j], bias);
            if (d->epilogue.relu) y = WMAX(y, WZERO());
            WSTORE(origin + i * row + j * col, y);
        }
    }
}

/// One-dimensional input transform of the window at positions pos0 ..< pos0 + 6 of a line (`step` floats
/// apart, `length` positions, zeros outside): dst[pt · ptstride] = (Bᵀ d)[pt].
static inline void WNAME(input_line_tile)(const float *line, long step, int length, int pos0, float *dst, size_t ptstride) {
    WT x[6], o[6];
    for (int i = 0; i < 6; i++) {
        const int pos = pos0 + i;
        x[i] = (pos >= 0 && pos < length) ? WLOAD(line + pos * step) : WZERO();
    }
    WNAME(bt6)(x, o);
    for (int i = 0; i < 6; i++) WSTORE(dst + (size_t)i * ptstride, o[i]);
}

/// One-dimensional output transform of one tile: y = Aᵀ s (m values) from s[pt] = src[pt · ptstride], added
/// to (or, for the first part, stored in) positions pos0 ..< pos0 + m of an output line; after the last part,
/// + bias and ReLU.
static inline void WNAME(output_line_tile)(const hs_winograd1d_desc *d, int m, const float *src, size_t ptstride,
                                           float *line, long step, int length, int pos0, int first, int last, WT bias) {
    WT s[6], o[4];
    for (int i = 0; i < 6; i++) s[i] = WLOAD(src + (size_t)i * ptstride);
    WNAME(at6)(s, o, m);
    for (int i = 0; i < m && pos0 + i < length; i++) {
        float *p = line + (pos0 + i) * step;
        WT y = first ? o[i] : WADD(WLOAD(p), o[i]);
        if (last) {
            y = WADD(y, bias);
            if (d->epilogue.relu) y = WMAX(y, WZERO());
        }
        WSTORE(p, y);
    }
}

#undef WNAME
#undef WCAT
#undef WCAT2
#undef WT
#undef WSUFFIX
#undef WLOAD
#undef WSTORE
#undef WSET1
#undef WZERO
#undef WADD
#undef WSUB
#undef WMAX
#undef WFMA
