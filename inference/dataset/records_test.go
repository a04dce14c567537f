package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
)

func TestReadRecords(t *testing.T) {
	h, recs, err := ReadRecords(strings.NewReader("a,b\n1,2\n3,4\n"), Limits{})
	if err != nil || len(h) != 2 || len(recs) != 2 {
		t.Fatalf("header %q, %d rows, %v", h, len(recs), err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("1,2\n3,4\n"))
	w.Close()
	if h, recs, err := ReadRecords(&gz, Limits{}); err != nil || h != nil || len(recs) != 2 {
		t.Fatalf("gzip, no header: %q, %d rows, %v", h, len(recs), err)
	}
	for _, tc := range []struct {
		in   string
		lim  Limits
		want error
	}{
		{"", Limits{}, ErrMalformed},
		{"1,2\n3\n4,5\n", Limits{}, ErrMalformed},
		{"1,2\n3,4\n5,6\n", Limits{MaxSamples: 2}, ErrTooLarge},
		{"1,2,3\n", Limits{MaxFeatures: 1}, ErrTooLarge},
		{strings.Repeat("1,2\n", 100), Limits{MaxBytes: 64}, ErrTooLarge},
	} {
		if _, _, err := ReadRecords(strings.NewReader(tc.in), tc.lim); !errors.Is(err, tc.want) {
			t.Errorf("%q %+v: %v, want %v", tc.in, tc.lim, err, tc.want)
		}
	}
}

func FuzzReadRecords(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"))
	f.Add([]byte("1,2\n3,4\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := ReadRecords(bytes.NewReader(b), Limits{MaxBytes: 1 << 16, MaxSamples: 100, MaxFeatures: 16})
		if err == nil && (len(recs) == 0 || len(recs) > 100 || (h != nil && len(recs[0]) == 0)) {
			t.Fatalf("accepted %d rows", len(recs))
		}
	})
}
