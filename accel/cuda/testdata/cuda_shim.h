// A shim of the CUDA builtins kernels.cu uses, so that g++ can check its
// syntax and types as C++ (TestKernelSourceCompilesAsCXX). Semantics do not
// matter here; emulate_test.go is the executable transcription.
#pragma once
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
struct aios_dim3 { unsigned int x, y, z; };
extern aios_dim3 blockIdx, threadIdx, blockDim, gridDim;
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline void __syncthreads() {}
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
