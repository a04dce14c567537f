package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func kernelsCU(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKernelEntryPoints: every kernel the Go side launches is an
// extern "C" __global__ function of the embedded source, and no other.
func TestKernelEntryPoints(t *testing.T) {
	src := kernelsCU(t)
	re := regexp.MustCompile(`extern "C" __global__ void (\w+)\(const (\w+) p\)`)
	found := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		found[m[1]] = m[2]
	}
	want := map[string]string{
		"aios_dense": "DenseParams", "aios_ntt_stage": "NttParams", "aios_intt_stage": "NttParams",
		"aios_ntt_tile": "NttParams", "aios_intt_tile": "NttParams", "aios_mul_then_add": "MulParams",
	}
	if !reflect.DeepEqual(found, want) {
		t.Errorf("entry points of kernels.cu: %v, want %v", found, want)
	}
	for _, n := range kernelNames {
		if _, ok := found[n]; !ok {
			t.Errorf("kernel %s is launched but not in kernels.cu", n)
		}
	}
}

// TestParamLayout: the Go parameter blocks have the sizes and field
// offsets that kernels.cu's static_asserts fix for its C structs (which
// g++ checks in TestKernelSourceCompilesAsCXX, and NVRTC on the device).
func TestParamLayout(t *testing.T) {
	src := kernelsCU(t)
	goTypes := map[string]reflect.Type{
		"ModConsts":   reflect.TypeFor[modConsts](),
		"DenseParams": reflect.TypeFor[denseParams](),
		"NttParams":   reflect.TypeFor[nttParams](),
		"MulParams":   reflect.TypeFor[mulParams](),
	}
	// C field name → Go field name where they differ.
	rename := map[string]string{"qinv": "qInv", "ninv": "nInv"}
	sizes := regexp.MustCompile(`static_assert\(sizeof\((\w+)\) == (\d+)`).FindAllStringSubmatch(src, -1)
	offs := regexp.MustCompile(`static_assert\(__builtin_offsetof\((\w+), (\w+)\) == (\d+)`).FindAllStringSubmatch(src, -1)
	if len(sizes) != 4 || len(offs) < 20 {
		t.Fatalf("found %d size and %d offset assertions in kernels.cu", len(sizes), len(offs))
	}
	for _, m := range sizes {
		want, _ := strconv.Atoi(m[2])
		if got := goTypes[m[1]].Size(); int(got) != want {
			t.Errorf("sizeof %s: Go %d, C %d", m[1], got, want)
		}
	}
	covered := map[string]int{}
	for _, m := range offs {
		typ, field := goTypes[m[1]], m[2]
		if r, ok := rename[field]; ok {
			field = r
		}
		f, ok := typ.FieldByName(field)
		if !ok {
			t.Errorf("%s.%s has no Go field", m[1], m[2])
			continue
		}
		want, _ := strconv.Atoi(m[3])
		if int(f.Offset) != want {
			t.Errorf("offset of %s.%s: Go %d, C %d", m[1], m[2], f.Offset, want)
		}
		covered[m[1]]++
	}
	for _, n := range []string{"DenseParams", "NttParams", "MulParams"} {
		if covered[n] != goTypes[n].NumField() {
			t.Errorf("%s: %d offsets asserted, %d Go fields", n, covered[n], goTypes[n].NumField())
		}
	}
	if unsafe.Alignof(denseParams{}) != 8 {
		t.Error("parameter blocks must be 8-byte aligned")
	}
}

// TestGeometry: the launch constants of params.go equal kernels.cu's.
func TestGeometry(t *testing.T) {
	src := kernelsCU(t)
	for name, v := range map[string]int{
		"DENSE_THREADS": denseThreads, "DENSE_KT": denseKT, "DENSE_IT": denseIT,
		"NTT_TILE": nttTile, "NTT_THREADS": nttThreads, "MUL_THREADS": mulThreads,
	} {
		m := regexp.MustCompile(`#define ` + name + `\s+(\d+)`).FindStringSubmatch(src)
		if m == nil || m[1] != strconv.Itoa(v) {
			t.Errorf("#define %s: %v, Go %d", name, m, v)
		}
	}
	// Launch shapes stay within CUDA's limits (1024 threads per block,
	// 65535 blocks in y and z) for every supported degree.
	for logN := 4; logN <= 17; logN++ {
		n := uint32(1) << logN
		ls := append(nttLaunches(nttParams{n: n, rows: 1000}, false), nttLaunches(nttParams{n: n, rows: 1000}, true)...)
		ls = append(ls, denseLaunch(&denseParams{n: n, rows: 1000, nIn: 784, nOut: 65535 * denseKT}), mulLaunch(&mulParams{n: n, rows: 1000}))
		for _, l := range ls {
			if l.block.x*l.block.y*l.block.z > 1024 || l.grid.y > 65535 || l.grid.z > 65535 || l.block.x == 0 || l.grid.x == 0 {
				t.Errorf("N=2^%d %s: grid %v block %v", logN, l.k, l.grid, l.block)
			}
		}
	}
}

// TestKernelSourceCompilesAsCXX checks the syntax and types of kernels.cu,
// its static_asserts included, with g++ and a shim of the CUDA builtins.
// It skips where g++ is absent; NVRTC compiles the real thing on a GPU.
func TestKernelSourceCompilesAsCXX(t *testing.T) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not found")
	}
	shim, err := filepath.Abs(filepath.Join("testdata", "cuda_shim.h"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Wno-unknown-pragmas", "-Werror",
		"-include", shim, "-x", "c++", "kernels.cu")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("g++ -fsyntax-only kernels.cu: %v\n%s", err, strings.TrimSpace(string(out)))
	}
}
