// aios accel/cuda kernels, compiled at run time by NVRTC (device.go).
//
// Every kernel takes one parameter block by value; its layout is fixed by
// the static_asserts below and mirrored by the Go structs in params.go
// (TestParamLayout compares the two). Arithmetic follows lattigo v5
// (ring/modular_reduction.go, ring/ntt.go) step for step, so that the
// results are bit-exact: emulate_test.go is a line-by-line Go transcription
// checked against lattigo and the cpu backend.
//
// Conventions: u64 coefficients, moduli q odd and < 2^62, Montgomery
// constant qinv = +q^-1 mod 2^64 (lattigo's MRedConstant), bred =
// floor(2^64/q) (lattigo's BRedConstant[0]), r2 = 2^128 mod q.

typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;

// Per-modulus constants, 64 bytes.
struct ModConsts {
    u64 q;     // 0
    u64 qinv;  // 8: q^-1 mod 2^64
    u64 bred;  // 16: floor(2^64/q)
    u64 r2;    // 24: 2^128 mod q
    u64 ninv;  // 32: N^-1 * 2^64 mod q (NTT tables only)
    u64 pad[3];
};

// aios_dense: Y_k = sum_i W_ki X_i + B_k mod q_r.
struct DenseParams {
    const u64 *in;          // 0: nIn x rows x n, X_i row r at (i*rows + r)*n
    u64 *out;               // 8: nOut x rows x n
    const i64 *w;           // 16: nOut x nIn, row-major
    const u64 *bias;        // 24: nOut x rows residues, or 0 for none
    const ModConsts *mc;    // 32: rows
    u32 n;                  // 40
    u32 rows;               // 44
    u32 nIn;                // 48
    u32 nOut;               // 52
};

// aios_ntt_stage, aios_intt_stage, aios_ntt_tile, aios_intt_tile.
struct NttParams {
    u64 *data;              // 0: rows x n, transformed in place
    const u64 *roots;       // 8: tables x n (RootsForward or RootsBackward)
    const ModConsts *mc;    // 16: tables
    const u32 *table;       // 24: rows, the table of each row
    u32 n;                  // 32
    u32 rows;               // 36
    u32 t;                  // 40: stage kernels: the half-width t; tile kernels: the tile size
    u32 last;               // 44: 1: apply the final step (NTT: BRedAdd; INTT: MRed by N^-1)
};

// aios_mul_then_add: c = c + MRed(a, b) mod q.
struct MulParams {
    const u64 *a;           // 0: rows x n
    const u64 *b;           // 8
    u64 *c;                 // 16
    const ModConsts *mc;    // 24: rows
    u32 n;                  // 32
    u32 rows;               // 36
};

static_assert(sizeof(ModConsts) == 64, "ModConsts size");
static_assert(sizeof(DenseParams) == 56, "DenseParams size");
static_assert(__builtin_offsetof(DenseParams, in) == 0, "DenseParams.in");
static_assert(__builtin_offsetof(DenseParams, out) == 8, "DenseParams.out");
static_assert(__builtin_offsetof(DenseParams, w) == 16, "DenseParams.w");
static_assert(__builtin_offsetof(DenseParams, bias) == 24, "DenseParams.bias");
static_assert(__builtin_offsetof(DenseParams, mc) == 32, "DenseParams.mc");
static_assert(__builtin_offsetof(DenseParams, n) == 40, "DenseParams.n");
static_assert(__builtin_offsetof(DenseParams, rows) == 44, "DenseParams.rows");
static_assert(__builtin_offsetof(DenseParams, nIn) == 48, "DenseParams.nIn");
static_assert(__builtin_offsetof(DenseParams, nOut) == 52, "DenseParams.nOut");
static_assert(sizeof(NttParams) == 48, "NttParams size");
static_assert(__builtin_offsetof(NttParams, data) == 0, "NttParams.data");
static_assert(__builtin_offsetof(NttParams, roots) == 8, "NttParams.roots");
static_assert(__builtin_offsetof(NttParams, mc) == 16, "NttParams.mc");
static_assert(__builtin_offsetof(NttParams, table) == 24, "NttParams.table");
static_assert(__builtin_offsetof(NttParams, n) == 32, "NttParams.n");
static_assert(__builtin_offsetof(NttParams, rows) == 36, "NttParams.rows");
static_assert(__builtin_offsetof(NttParams, t) == 40, "NttParams.t");
static_assert(__builtin_offsetof(NttParams, last) == 44, "NttParams.last");
static_assert(sizeof(MulParams) == 40, "MulParams size");
static_assert(__builtin_offsetof(MulParams, a) == 0, "MulParams.a");
static_assert(__builtin_offsetof(MulParams, b) == 8, "MulParams.b");
static_assert(__builtin_offsetof(MulParams, c) == 16, "MulParams.c");
static_assert(__builtin_offsetof(MulParams, mc) == 24, "MulParams.mc");
static_assert(__builtin_offsetof(MulParams, n) == 32, "MulParams.n");
static_assert(__builtin_offsetof(MulParams, rows) == 36, "MulParams.rows");

// Launch geometry shared with the Go side (params.go; TestGeometry checks).
#define DENSE_THREADS 256   // coefficients per block
#define DENSE_KT 8          // outputs per thread
#define DENSE_IT 64         // weights per shared-memory tile and output
#define NTT_TILE 2048       // coefficients per tile (NTT_TILE/2 threads)
#define NTT_THREADS 256     // threads per block of the stage kernels
#define MUL_THREADS 256

// lattigo MRed: x*y*2^-64 mod q for x*y < q*2^64, fully reduced.
__device__ __forceinline__ u64 mred(u64 x, u64 y, u64 q, u64 qinv) {
    u64 mhi = __umul64hi(x, y);
    u64 mlo = x * y;
    u64 hhi = __umul64hi(mlo * qinv, q);
    u64 r = mhi - hhi + q;
    if (r >= q) r -= q;
    return r;
}

// lattigo MRedLazy: the same in [0, 2q).
__device__ __forceinline__ u64 mred_lazy(u64 x, u64 y, u64 q, u64 qinv) {
    u64 ahi = __umul64hi(x, y);
    u64 alo = x * y;
    u64 h = __umul64hi(alo * qinv, q);
    return ahi - h + q;
}

// lattigo BRedAdd: a mod q for any 64-bit a.
__device__ __forceinline__ u64 bred_add(u64 a, u64 q, u64 bred) {
    u64 mhi = __umul64hi(a, bred);
    u64 r = a - mhi * q;
    if (r >= q) r -= q;
    return r;
}

// The signed 128-bit value hi*2^64 + lo modulo q, in [0, q): the cpu
// backend's rowConsts.reduce (accel/dense.go), step for step.
__device__ __forceinline__ u64 reduce128(u64 hi, u64 lo, const ModConsts &k) {
    const u64 q = k.q;
    const bool neg = (i64)hi < 0;
    if (neg) {
        u64 nlo = 0 - lo;
        u64 borrow = lo != 0;
        hi = 0 - hi - borrow;
        lo = nlo;
    }
    // hi mod q by Barrett: the quotient estimate is short by at most 1.
    u64 qt = __umul64hi(hi, k.bred);
    u64 h = hi - qt * q;
    if (h >= q) h -= q;
    // T = h*2^64 + lo < q*2^64: Montgomery reduction gives T*2^-64 mod q ...
    u64 mh = __umul64hi(lo * k.qinv, q);
    u64 t = h - mh + q;
    if (t >= q) t -= q;
    // ... and a Montgomery product with 2^128 mod q restores T mod q.
    u64 v = mred(t, k.r2, q, k.qinv);
    if (neg && v != 0) v = q - v;
    return v;
}

// One thread per coefficient c of row r (blockIdx.y) for DENSE_KT outputs
// (blockIdx.z): the products w*x are accumulated exactly as signed 128-bit
// values, one 64x64-bit multiply each (the unsigned product of x and a
// negative w's two's complement exceeds the signed one by x*2^64), and
// reduced once. Zero weights are skipped (uniform across the block).
extern "C" __global__ void aios_dense(const DenseParams p) {
    __shared__ i64 ws[DENSE_KT][DENSE_IT];
    const u32 c = blockIdx.x * blockDim.x + threadIdx.x;
    const u32 r = blockIdx.y;
    const u32 k0 = blockIdx.z * DENSE_KT;
    const u32 kt = min((u32)DENSE_KT, p.nOut - k0);
    u64 hi[DENSE_KT], lo[DENSE_KT];
#pragma unroll
    for (int kk = 0; kk < DENSE_KT; kk++) { hi[kk] = 0; lo[kk] = 0; }
    for (u32 i0 = 0; i0 < p.nIn; i0 += DENSE_IT) {
        const u32 it = min((u32)DENSE_IT, p.nIn - i0);
        __syncthreads();
        for (u32 s = threadIdx.x; s < DENSE_KT * DENSE_IT; s += blockDim.x) {
            const u32 kk = s / DENSE_IT, ii = s % DENSE_IT;
            ws[kk][ii] = (kk < kt && ii < it) ? p.w[(u64)(k0 + kk) * p.nIn + i0 + ii] : 0;
        }
        __syncthreads();
        if (c < p.n) {
            for (u32 ii = 0; ii < it; ii++) {
                const u64 x = p.in[((u64)(i0 + ii) * p.rows + r) * p.n + c];
#pragma unroll
                for (int kk = 0; kk < DENSE_KT; kk++) {
                    const i64 w = ws[kk][ii];
                    if (w != 0) {
                        const u64 wu = (u64)w;
                        const u64 pl = x * wu;
                        const u64 ph = __umul64hi(x, wu) - (w < 0 ? x : 0);
                        lo[kk] += pl;
                        hi[kk] += ph + (lo[kk] < pl);
                    }
                }
            }
        }
    }
    if (c >= p.n) return;
    const ModConsts k = p.mc[r];
#pragma unroll
    for (int kk = 0; kk < DENSE_KT; kk++) {
        if ((u32)kk < kt) {
            u64 v = reduce128(hi[kk], lo[kk], k);
            if (p.bias != 0) {
                v += p.bias[(u64)(k0 + kk) * p.rows + r];
                if (v >= k.q) v -= k.q;
            }
            p.out[((u64)(k0 + kk) * p.rows + r) * p.n + c] = v;
        }
    }
}

// lattigo butterfly (ntt.go): X, Y = U + V*Psi, U - V*Psi, lazily.
__device__ __forceinline__ void butterfly(u64 &x, u64 &y, u64 psi, u64 q, u64 qinv) {
    const u64 twoq = q << 1, fourq = q << 2;
    u64 u = x;
    if (u >= fourq) u -= fourq;
    const u64 v = mred_lazy(y, psi, q, qinv);
    x = u + v;
    y = u + twoq - v;
}

// lattigo invbutterfly (ntt.go): X, Y = U + V, (U - V)*Psi, lazily.
__device__ __forceinline__ void invbutterfly(u64 &x, u64 &y, u64 psi, u64 q, u64 qinv) {
    const u64 twoq = q << 1, fourq = q << 2;
    const u64 u = x, v = y;
    u64 s = u + v;
    if (s >= twoq) s -= twoq;
    x = s;
    y = mred_lazy(u + fourq - v, psi, q, qinv);
}

// The forward transform's last step (lattigo reducevec: BRedAdd) or the
// inverse's (mulscalarmontgomeryvec by N^-1: MRed).
__device__ __forceinline__ u64 finish(u64 x, const ModConsts &k, bool inverse) {
    return inverse ? mred(x, k.ninv, k.q, k.qinv) : bred_add(x, k.q, k.bred);
}

// One butterfly per thread of one stage with half-width t >= NTT_TILE (the
// two coefficients of a pair lie in different tiles): row blockIdx.y,
// butterfly b.
// Forward (lattigo nttLazy): m = n/(2t), block i = b/t uses roots[m+i] on
// (j, j+t), j = 2it + b%t.
extern "C" __global__ void aios_ntt_stage(const NttParams p) {
    const u32 b = blockIdx.x * blockDim.x + threadIdx.x;
    const u32 r = blockIdx.y;
    if (b >= p.n / 2) return;
    const u32 tb = p.table[r];
    const ModConsts &k = p.mc[tb];
    const u32 logt = __ffs(p.t) - 1;
    const u32 i = b >> logt, j = 2 * i * p.t + (b & (p.t - 1));
    const u32 m = p.n / (2 * p.t);
    u64 *x = p.data + (u64)r * p.n;
    u64 u = x[j], v = x[j + p.t];
    butterfly(u, v, p.roots[(u64)tb * p.n + m + i], k.q, k.qinv);
    if (p.last) {
        u = finish(u, k, false);
        v = finish(v, k, false);
    }
    x[j] = u;
    x[j + p.t] = v;
}

// Inverse (lattigo inttLazy): stage with half-width t, h = n/(2t) blocks,
// block i = b/t uses roots[h+i].
extern "C" __global__ void aios_intt_stage(const NttParams p) {
    const u32 b = blockIdx.x * blockDim.x + threadIdx.x;
    const u32 r = blockIdx.y;
    if (b >= p.n / 2) return;
    const u32 tb = p.table[r];
    const ModConsts &k = p.mc[tb];
    const u32 logt = __ffs(p.t) - 1;
    const u32 i = b >> logt, j = 2 * i * p.t + (b & (p.t - 1));
    const u32 h = p.n / (2 * p.t);
    u64 *x = p.data + (u64)r * p.n;
    u64 u = x[j], v = x[j + p.t];
    invbutterfly(u, v, p.roots[(u64)tb * p.n + h + i], k.q, k.qinv);
    if (p.last) {
        u = finish(u, k, true);
        v = finish(v, k, true);
    }
    x[j] = u;
    x[j + p.t] = v;
}

// Every stage whose pairs lie within one tile of p.t = S = min(n, NTT_TILE)
// coefficients, in shared memory: block (blockIdx.x, row blockIdx.y) holds
// tile blockIdx.x, S/2 threads, one butterfly each per stage. Forward:
// t = S/2 … 1 (the last stages of the transform), then the final reduction
// if p.last.
extern "C" __global__ void aios_ntt_tile(const NttParams p) {
    __shared__ u64 s[NTT_TILE];
    const u32 S = p.t, tid = threadIdx.x, r = blockIdx.y;
    const u32 tb = p.table[r];
    const ModConsts &k = p.mc[tb];
    const u64 *roots = p.roots + (u64)tb * p.n;
    u64 *x = p.data + (u64)r * p.n + (u64)blockIdx.x * S;
    s[tid] = x[tid];
    s[tid + S / 2] = x[tid + S / 2];
    __syncthreads();
    for (u32 t = S / 2; t >= 1; t >>= 1) {
        const u32 logt = __ffs(t) - 1;
        const u32 il = tid >> logt, j = 2 * il * t + (tid & (t - 1));
        const u32 m = p.n / (2 * t);
        const u32 i = blockIdx.x * (S / (2 * t)) + il;
        u64 u = s[j], v = s[j + t];
        butterfly(u, v, roots[m + i], k.q, k.qinv);
        s[j] = u;
        s[j + t] = v;
        __syncthreads();
    }
    u64 a = s[tid], b = s[tid + S / 2];
    if (p.last) {
        a = finish(a, k, false);
        b = finish(b, k, false);
    }
    x[tid] = a;
    x[tid + S / 2] = b;
}

// Inverse: t = 1 … S/2 (the first stages of the inverse), then the scaling
// by N^-1 if p.last (n <= NTT_TILE).
extern "C" __global__ void aios_intt_tile(const NttParams p) {
    __shared__ u64 s[NTT_TILE];
    const u32 S = p.t, tid = threadIdx.x, r = blockIdx.y;
    const u32 tb = p.table[r];
    const ModConsts &k = p.mc[tb];
    const u64 *roots = p.roots + (u64)tb * p.n;
    u64 *x = p.data + (u64)r * p.n + (u64)blockIdx.x * S;
    s[tid] = x[tid];
    s[tid + S / 2] = x[tid + S / 2];
    __syncthreads();
    for (u32 t = 1; t <= S / 2; t <<= 1) {
        const u32 logt = __ffs(t) - 1;
        const u32 il = tid >> logt, j = 2 * il * t + (tid & (t - 1));
        const u32 h = p.n / (2 * t);
        const u32 i = blockIdx.x * (S / (2 * t)) + il;
        u64 u = s[j], v = s[j + t];
        invbutterfly(u, v, roots[h + i], k.q, k.qinv);
        s[j] = u;
        s[j + t] = v;
        __syncthreads();
    }
    u64 a = s[tid], b = s[tid + S / 2];
    if (p.last) {
        a = finish(a, k, true);
        b = finish(b, k, true);
    }
    x[tid] = a;
    x[tid + S / 2] = b;
}

// lattigo MulCoeffsMontgomeryThenAdd: c = CRed(c + MRed(a, b)).
extern "C" __global__ void aios_mul_then_add(const MulParams p) {
    const u32 c = blockIdx.x * blockDim.x + threadIdx.x;
    const u32 r = blockIdx.y;
    if (c >= p.n) return;
    const ModConsts &k = p.mc[r];
    const u64 o = (u64)r * p.n + c;
    u64 v = p.c[o] + mred(p.a[o], p.b[o], k.q, k.qinv);
    if (v >= k.q) v -= k.q;
    p.c[o] = v;
}
