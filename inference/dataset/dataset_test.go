package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

var datasets = filepath.Join("..", "..", "testvectors", "datasets")

func TestLoadDigits(t *testing.T) {
	d, err := LoadCSVFile(filepath.Join(datasets, "digits.csv.gz"), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 1797 || d.Features != 64 || d.NumClasses() != 10 {
		t.Fatalf("digits: %d × %d, %d classes", d.Len(), d.Features, d.NumClasses())
	}
	for _, x := range d.X {
		for _, v := range x {
			if v < 0 || v > 16 {
				t.Fatalf("grey level %v outside 0–16", v)
			}
		}
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadBreastCancer(t *testing.T) {
	d, err := LoadCSVFile(filepath.Join(datasets, "breast_cancer.csv"), CSVOptions{Features: 30})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 569 || d.Features != 30 || strings.Join(d.Classes, ",") != "malignant,benign" {
		t.Fatalf("breast cancer: %d × %d, classes %v", d.Len(), d.Features, d.Classes)
	}
	if c := d.ClassCounts(); c[0] != 212 || c[1] != 357 {
		t.Fatalf("class counts %v, want [212 357]", c)
	}
	_, err = LoadCSVFile(filepath.Join(datasets, "breast_cancer.csv"), CSVOptions{Features: 64})
	var fe *FeatureCountError
	if !errors.As(err, &fe) || fe.Want != 64 || fe.Got != 30 || !errors.Is(err, ErrFeatureCount) {
		t.Fatalf("want FeatureCountError{64, 30}, got %v", err)
	}
}

func TestCSVGzipTransparent(t *testing.T) {
	plain := "3,2,a,b\n1,2,0\n3,4,1\n5,6,1\n"
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(plain))
	zw.Close()
	a, err := ReadCSV(strings.NewReader(plain), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadCSV(&zb, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 3 || b.Len() != 3 || a.X[2][1] != 6 || b.X[2][1] != 6 || b.Classes[1] != "b" {
		t.Fatalf("plain %+v gzip %+v", a, b)
	}
}

func TestCSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		opts     CSVOptions
		want     error
	}{
		{"empty", "", CSVOptions{}, ErrMalformed},
		{"ragged", "1,2,0\n1,2,3,0\n", CSVOptions{}, ErrFeatureCount},
		{"wrong count", "1,2,0\n", CSVOptions{Features: 3}, ErrFeatureCount},
		{"nan", "1,NaN,0\n", CSVOptions{}, ErrMalformed},
		{"inf", "1,+Inf,0\n", CSVOptions{}, ErrMalformed},
		{"text", "1,x,0\n", CSVOptions{}, ErrMalformed},
		{"negative label", "1,2,-1\n", CSVOptions{}, ErrMalformed},
		{"fractional label", "1,2,0.5\n", CSVOptions{}, ErrMalformed},
		{"label beyond header", "1,2,a,b\n1,2,2\n", CSVOptions{}, ErrMalformed},
		{"truncated", "3,2,a,b\n1,2,0\n", CSVOptions{}, ErrTruncated},
		{"extra rows", "1,2,a,b\n1,2,0\n1,2,1\n", CSVOptions{}, ErrMalformed},
		{"header disagrees with rows", "1,3,a,b\n1,2,0\n", CSVOptions{}, ErrMalformed},
		{"header features", "1,2,a,b\n1,2,0\n", CSVOptions{Features: 3}, ErrFeatureCount},
		{"missing header", "1,2,0\n", CSVOptions{Header: HeaderPresent}, ErrMalformed},
		{"too many samples", "1,0\n2,0\n3,0\n", CSVOptions{Limits: Limits{MaxSamples: 2}}, ErrTooLarge},
		{"too many bytes", "1,2,0\n1,2,0\n", CSVOptions{Limits: Limits{MaxBytes: 8}}, ErrTooLarge},
		{"too many classes", "1,2,9\n", CSVOptions{Limits: Limits{MaxClasses: 4}}, ErrTooLarge},
		{"header rows too large", "999999999999,2,a\n", CSVOptions{}, ErrTooLarge},
		{"bad gzip", "\x1f\x8b\x08\x00garbage", CSVOptions{}, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in), tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCSVHeaderDetection(t *testing.T) {
	// "5,3,1,0" has features+1 = 4 fields, all numeric: data.
	d, err := ReadCSV(strings.NewReader("5,3,1,0\n"), CSVOptions{})
	if err != nil || d.Len() != 1 || d.Features != 3 {
		t.Fatalf("%v %+v", err, d)
	}
	// HeaderAbsent reads a header-looking line as data and fails on it.
	if _, err := ReadCSV(strings.NewReader("1,2,a,b\n1,2,0\n"), CSVOptions{Header: HeaderAbsent}); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func idxFile(typ byte, dims []uint32, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

func TestIDX(t *testing.T) {
	img := idxFile(8, []uint32{3, 2, 2}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255})
	lab := idxFile(8, []uint32{3}, []byte{2, 0, 1})
	d, err := ReadIDX(bytes.NewReader(img), bytes.NewReader(lab), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.Features != 4 || d.NumClasses() != 3 || d.X[2][3] != 255 || d.Y[0] != 2 {
		t.Fatalf("%+v", d)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(img)
	zw.Close()
	if d2, err := ReadIDX(&zb, bytes.NewReader(lab), Limits{}); err != nil || d2.X[1][0] != 4 {
		t.Fatalf("gzip: %v", err)
	}

	for _, tc := range []struct {
		name     string
		img, lab []byte
		lim      Limits
		want     error
	}{
		{"truncated images", img[:len(img)-1], lab, Limits{}, ErrTruncated},
		{"truncated labels", img, lab[:len(lab)-1], Limits{}, ErrTruncated},
		{"truncated header", img[:6], lab, Limits{}, ErrTruncated},
		{"count mismatch", img, idxFile(8, []uint32{2}, []byte{0, 1}), Limits{}, ErrMalformed},
		{"float type", idxFile(0x0d, []uint32{3, 2, 2}, nil), lab, Limits{}, ErrUnsupported},
		{"bad magic", append([]byte{1}, img[1:]...), lab, Limits{}, ErrMalformed},
		{"wrong dims", idxFile(8, []uint32{3, 4}, nil), lab, Limits{}, ErrMalformed},
		{"huge", idxFile(8, []uint32{1 << 20, 1 << 10, 1 << 10}, nil), idxFile(8, []uint32{1 << 20}, nil), Limits{}, ErrTooLarge},
		{"too many samples", img, lab, Limits{MaxSamples: 2}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(tc.img), bytes.NewReader(tc.lab), tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSplitStratified(t *testing.T) {
	for _, name := range []string{"digits.csv.gz", "breast_cancer.csv"} {
		d, err := LoadCSVFile(filepath.Join(datasets, name), CSVOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tr, te, err := Split(d, 0.2, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Len()+te.Len() != d.Len() {
			t.Fatalf("%s: %d + %d != %d", name, tr.Len(), te.Len(), d.Len())
		}
		all, ctr, cte := d.ClassCounts(), tr.ClassCounts(), te.ClassCounts()
		for c := range all {
			want := 0.2 * float64(all[c])
			if math.Abs(float64(cte[c])-want) > 0.5 || ctr[c]+cte[c] != all[c] {
				t.Errorf("%s class %d: test %d of %d", name, c, cte[c], all[c])
			}
		}
		// Deterministic, different for another seed, disjoint.
		tr2, te2, _ := Split(d, 0.2, 1)
		_, te3, _ := Split(d, 0.2, 2)
		if !equalSets(te, te2) || !equalSets(tr, tr2) {
			t.Errorf("%s: split not deterministic", name)
		}
		if equalSets(te, te3) {
			t.Errorf("%s: seeds 1 and 2 give the same split", name)
		}
		seen := map[*float64]bool{}
		for _, x := range tr.X {
			seen[&x[0]] = true
		}
		for _, x := range te.X {
			if seen[&x[0]] {
				t.Fatalf("%s: a sample is in both sets", name)
			}
		}
	}
	if _, _, err := Split(&Dataset{Classes: []string{"a"}}, 1, 1); err == nil {
		t.Fatal("fraction 1 accepted")
	}
}

func equalSets(a, b *Dataset) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.X {
		if &a.X[i][0] != &b.X[i][0] {
			return false
		}
	}
	return true
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("569,30,malignant,benign\n"))
	f.Add([]byte("2,2,a,b\n1.5,2,0\n3,4e2,1\n"))
	f.Add([]byte("0,0,5,13,0\n1,2,3,4,9\n"))
	f.Add([]byte("1,\"2\",0\n"))
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte("1,2,0\n3,4,1\n"))
	zw.Close()
	f.Add(zb.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ReadCSV(bytes.NewReader(b), CSVOptions{Limits: Limits{MaxBytes: 1 << 16, MaxSamples: 1000, MaxFeatures: 100, MaxClasses: 50}})
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("loader returned an invalid data set: %v", err)
		}
	})
}

func FuzzReadIDX(f *testing.F) {
	f.Add(idxFile(8, []uint32{2, 1, 2}, []byte{1, 2, 3, 4}), idxFile(8, []uint32{2}, []byte{0, 1}))
	f.Add(idxFile(8, []uint32{1, 1, 1}, []byte{7}), idxFile(8, []uint32{1}, []byte{3}))
	f.Add(idxFile(0x0d, []uint32{1, 1, 1}, nil), []byte{0, 0, 8})
	f.Fuzz(func(t *testing.T, img, lab []byte) {
		d, err := ReadIDX(bytes.NewReader(img), bytes.NewReader(lab), Limits{MaxBytes: 1 << 16, MaxSamples: 1000, MaxFeatures: 1000, MaxClasses: 256})
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("loader returned an invalid data set: %v", err)
		}
	})
}
