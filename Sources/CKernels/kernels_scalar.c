// The kernels in portable C (any CPU): a 4 × 4 tile of scalars. The reference the vector paths are tested
// against, and the fallback where neither AVX2 nor AVX-512 is available.
#include "CKernels.h"
#include "kernels_private.h"
#include <math.h>

typedef float V;
#define VL 1
#define MR 4
#define NR 4
#define KC 256
#define MC 64
#define HS_THIS_ISA HS_ISA_SCALAR
#define FN(name) hs_scalar_##name
#define vzero() 0.0f
#define vload(p) (*(p))
#define vstore(p, v) (*(p) = (v))
#define vbcast(p) (*(p))
#define vset1(x) (x)
#define vadd(a, b) ((a) + (b))
#define vsub(a, b) ((a) - (b))
#define vmax(a, b) ((a) > (b) ? (a) : (b))
#define vdiv(a, b) ((a) / (b))
#define vmul(a, b) ((a) * (b))
#define vsqrt(a) sqrtf(a)
#define vfma(a, b, c) ((a) * (b) + (c))
#define ROWS(X) X(0) X(1) X(2) X(3)
#define COLS(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3)
#include "kernels_body.h"

HS_DEFINE_ENTRY_POINTS(scalar)
