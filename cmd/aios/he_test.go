package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aios-edge/aios/he"
)

// TestCLIRoundTrip runs keygen → encrypt → decrypt from the command line at
// every preset (n12 and n13 under -short) and checks every decrypted value
// is within 2^-20 of its input, for full-width vectors in [-16, 16].
func TestCLIRoundTrip(t *testing.T) {
	presets := he.PresetNames()
	if testing.Short() {
		presets = presets[:2]
	}
	for _, name := range presets {
		t.Run(name, func(t *testing.T) {
			p, err := he.PresetByName(name)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			keys, in, ct := filepath.Join(dir, "c.keys"), filepath.Join(dir, "v.csv"), filepath.Join(dir, "v.ct")
			rng := rand.New(rand.NewPCG(5, uint64(p.LogN())))
			want := [][]float64{make([]float64, p.MaxSlots()), {3.25, -1e-3, 0}}
			var csv strings.Builder
			for _, v := range want {
				for i := range v {
					if len(v) == p.MaxSlots() {
						v[i] = (2*rng.Float64() - 1) * 16
					}
					if i > 0 {
						csv.WriteByte(',')
					}
					csv.WriteString(strconv.FormatFloat(v[i], 'g', -1, 64))
				}
				csv.WriteByte('\n')
			}
			if err := os.WriteFile(in, []byte(csv.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			mustRun(t, "keygen", "--preset", name, "--out", keys)
			if fi, err := os.Stat(keys); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode: %v %v", fi.Mode(), err)
			}
			mustRun(t, "encrypt", "--keys", keys, "--in", in, "--out", ct)
			out := mustRun(t, "decrypt", "--keys", keys, "--in", ct, "--format", "json")
			var got [][]float64
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d vectors back, want %d", len(got), len(want))
			}
			worst := 0.0
			for i := range want {
				if len(got[i]) != len(want[i]) {
					t.Fatalf("vector %d: %d values, want %d", i, len(got[i]), len(want[i]))
				}
				for j := range want[i] {
					worst = max(worst, math.Abs(got[i][j]-want[i][j]))
				}
			}
			t.Logf("%s: max |error| 2^%.1f", name, math.Log2(worst))
			if worst > math.Exp2(-20) {
				t.Fatalf("max |error| %g > 2^-20", worst)
			}
		})
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runAios(t, args...)
	if code != 0 {
		t.Fatalf("aios %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

func TestCLIRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	insecure := write("insecure.json", `{"LogN":13,"LogQ":[60,60,60,60],"LogP":[60],"LogDefaultScale":40}`)
	keys12 := filepath.Join(dir, "n12.keys")
	mustRun(t, "keygen", "--preset", "n12", "--out", keys12)
	keys13 := filepath.Join(dir, "n13.keys")
	mustRun(t, "keygen", "--preset", "n13", "--out", keys13, "--no-relin")
	ct12 := filepath.Join(dir, "v.ct")
	mustRun(t, "encrypt", "--keys", keys12, "--in", write("v.json", "[1, 2, 3]"), "--out", ct12)

	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"params", "--check", insecure}, 1, "log2(QP) = 300.0 exceeds 218"},
		{[]string{"keygen", "--params", insecure, "--out", filepath.Join(dir, "x.keys")}, 1, "exceeds 218"},
		{[]string{"keygen", "--preset", "n99", "--out", filepath.Join(dir, "x.keys")}, 1, "unknown parameter preset"},
		{[]string{"keygen", "--preset", "n12", "--out", keys12}, 1, "exists"},
		{[]string{"keygen", "--preset", "n12"}, 2, "--out is required"},
		{[]string{"keygen", "--galois", "2", "--preset", "n12", "--out", filepath.Join(dir, "y.keys")}, 1, "not an odd residue"},
		{[]string{"decrypt", "--keys", keys13, "--in", ct12}, 1, "made under parameters"},
		{[]string{"encrypt", "--keys", keys12, "--in", write("nan.csv", "1,NaN\n"), "--out", filepath.Join(dir, "n.ct")}, 1, "not finite"},
		{[]string{"encrypt", "--keys", keys12, "--in", write("text.csv", "1,abc\n"), "--out", filepath.Join(dir, "n.ct")}, 1, "line 1 field 2: not a number"},
		{[]string{"encrypt", "--keys", keys12, "--in", write("long.json", "["+strings.Repeat("1,", 2048)+"1]"), "--out", filepath.Join(dir, "n.ct")}, 1, "2049 values, want 1…2048"},
		{[]string{"decrypt", "--keys", write("junk.keys", "AIOSKEYS\x01\x00\x07"), "--in", ct12}, 1, "section 7 out of order or unknown"},
		{[]string{"decrypt", "--keys", keys12, "--in", write("junk.ct", "hello")}, 1, "bad file"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	}
	for _, c := range cases {
		code, stdout, stderr := runAios(t, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("aios %s: exit %d, output %q; want exit %d mentioning %q", strings.Join(c.args, " "), code, stdout+stderr, c.code, c.want)
		}
	}
}

func TestCLIHelpVersionParams(t *testing.T) {
	out := mustRun(t, "help")
	for _, name := range []string{"keygen", "encrypt", "decrypt", "params", "version"} {
		if !strings.Contains(out, name) {
			t.Errorf("help does not list %s", name)
		}
	}
	if out := mustRun(t, "help", "keygen"); !strings.Contains(out, "--rotations") && !strings.Contains(out, "-rotations") {
		t.Errorf("help keygen lacks its flags:\n%s", out)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(mustRun(t, "version", "--json")), &v); err != nil || v.Go == "" {
		t.Fatalf("version --json: %v %+v", err, v)
	}
	var infos []he.Info
	if err := json.Unmarshal([]byte(mustRun(t, "params", "--json")), &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(he.PresetNames()) {
		t.Fatalf("params --json lists %d presets", len(infos))
	}
	for _, in := range infos {
		if in.SecurityBits < 128 || in.LogQP > in.MaxLogQP {
			t.Errorf("%s: %+v", in.Name, in)
		}
	}
}

func FuzzReadVectors(f *testing.F) {
	f.Add([]byte("1,2,3\n4\n"), "csv")
	f.Add([]byte("[1, 2.5e3]"), "json")
	f.Add([]byte("[[1],[2,3]]"), "json")
	f.Add([]byte("# comment\n\n-0,1e308\n"), "auto")
	f.Fuzz(func(t *testing.T, b []byte, format string) {
		vecs, err := readVectors(strings.NewReader(string(b)), "fuzz", format, 64)
		if err != nil {
			return
		}
		for _, v := range vecs {
			if len(v) == 0 || len(v) > 64 {
				t.Fatalf("accepted a vector of %d values", len(v))
			}
			for _, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					t.Fatal("accepted a non-finite value")
				}
			}
		}
	})
}
