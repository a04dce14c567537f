package dp

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestReadColumn(t *testing.T) {
	data := "\ufeffid, age ,name\n1,34,\"Smith, J\"\n2,,x\n3, 41.5 ,y\n"
	got, err := ReadColumn(strings.NewReader(data), "age", CSVLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 34 || got[1] != 41.5 {
		t.Errorf("ReadColumn = %v, want [34 41.5]", got)
	}
	cases := map[string]struct {
		data string
		lim  CSVLimits
		line int
	}{
		"empty":        {"", CSVLimits{}, 0},
		"no column":    {"a,b\n1,2\n", CSVLimits{}, 1},
		"twice":        {"age,age\n1,2\n", CSVLimits{}, 1},
		"not a number": {"age\n1\nsecret-value\n", CSVLimits{}, 3},
		"nan":          {"age\nNaN\n", CSVLimits{}, 2},
		"inf":          {"age\n1\n+Inf\n", CSVLimits{}, 3},
		"ragged":       {"age,b\n1,2\n3\n", CSVLimits{}, 3},
		"bare quote":   {"age\n1\"2\n", CSVLimits{}, 2},
		"too big":      {"age\n1\n2\n3\n", CSVLimits{MaxBytes: 6}, 0},
		"too many":     {"age\n1\n2\n3\n", CSVLimits{MaxRows: 2}, 0},
	}
	for name, tc := range cases {
		_, err := ReadColumn(strings.NewReader(tc.data), "age", tc.lim)
		var ce *CSVError
		if !errors.Is(err, ErrInvalidCSV) || !errors.As(err, &ce) {
			t.Errorf("%s: %v, want *CSVError", name, err)
			continue
		}
		if ce.Line != tc.line {
			t.Errorf("%s: line %d, want %d (%v)", name, ce.Line, tc.line, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error quotes a cell: %v", name, err)
		}
	}
}

func FuzzReadColumn(f *testing.F) {
	f.Add([]byte("age\n1\n2.5\n"), "age")
	f.Add([]byte("a,b\n\"x\"\"y\",3\n"), "b")
	f.Add([]byte("\ufeffv\n-0\n1e308\n"), "v")
	f.Add([]byte("v\n\"unterminated\n"), "v")
	f.Add([]byte("v\nQQSECRETQQ\n"), "v")
	f.Fuzz(func(t *testing.T, data []byte, col string) {
		vals, err := ReadColumn(bytes.NewReader(data), col, CSVLimits{MaxBytes: 1 << 16})
		if err != nil {
			if !errors.Is(err, ErrInvalidCSV) {
				t.Fatalf("untyped error %v", err)
			}
			// A cell made of a marker never shows up in the message.
			if bytes.Contains(data, []byte("QQSECRETQQ")) && strings.Contains(err.Error(), "QQSECRETQQ") {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite value accepted")
			}
		}
	})
}
