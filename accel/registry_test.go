package accel_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aios-edge/aios/accel"
)

var errTestDevice = errors.New("no test device here")

func init() {
	// A backend that never initialises, ranked above every real one: auto
	// must skip it, naming it must fail with its reason.
	accel.Register(accel.Registration{Name: "failing-for-test", Priority: 1000,
		Open: func() (accel.Backend, error) { return nil, errTestDevice }})
}

func TestSelect(t *testing.T) {
	for _, name := range []string{"", "auto", " AUTO ", "cpu", "CPU"} {
		b, err := accel.SelectByName(name)
		if err != nil || b.Name() != "cpu" {
			t.Errorf("SelectByName(%q) = %v, %v; want the cpu backend", name, b, err)
		}
	}
	if _, err := accel.SelectByName("failing-for-test"); !errors.Is(err, accel.ErrUnavailable) || !errors.Is(err, errTestDevice) {
		t.Errorf("explicit failing backend: got %v, want ErrUnavailable wrapping its reason", err)
	}
	if b, err := accel.SelectByName("cuda"); err != nil && !errors.Is(err, accel.ErrUnavailable) {
		t.Errorf("cuda without a GPU: got %v, want ErrUnavailable", err)
	} else if err == nil && b.Name() != "cuda" {
		t.Errorf("SelectByName(cuda) = %s", b.Name())
	}
	if _, err := accel.SelectByName("tpu"); !errors.Is(err, accel.ErrUnknownBackend) || !strings.Contains(err.Error(), "cpu") {
		t.Errorf("unknown backend: got %v, want ErrUnknownBackend listing the names", err)
	}
	t.Setenv(accel.EnvVar, "cpu")
	if b, err := accel.Select(); err != nil || b.Name() != "cpu" {
		t.Errorf("Select with %s=cpu: %v, %v", accel.EnvVar, b, err)
	}
	t.Setenv(accel.EnvVar, "failing-for-test")
	if _, err := accel.Select(); !errors.Is(err, accel.ErrUnavailable) {
		t.Errorf("Select with %s=failing-for-test: got %v", accel.EnvVar, err)
	}
}

func TestBackendsList(t *testing.T) {
	infos := accel.Backends()
	var names []string
	for i, in := range infos {
		names = append(names, in.Name)
		if i > 0 && infos[i-1].Priority < in.Priority {
			t.Errorf("not sorted by priority: %v", infos)
		}
		if in.Available == (in.Reason != "") {
			t.Errorf("%s: available %v with reason %q", in.Name, in.Available, in.Reason)
		}
	}
	if got := strings.Join(names, ","); got != "failing-for-test,cuda,cpu" {
		t.Errorf("Backends() = %s", got)
	}
	if cpu := infos[len(infos)-1]; !cpu.Available || cpu.Device == "" {
		t.Errorf("cpu backend: %+v", cpu)
	}
}

func TestRegisterMisuse(t *testing.T) {
	for _, r := range []accel.Registration{
		{Name: "cpu", Open: func() (accel.Backend, error) { return nil, nil }},
		{Name: "", Open: func() (accel.Backend, error) { return nil, nil }},
		{Name: "x"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", r.Name)
				}
			}()
			accel.Register(r)
		}()
	}
}
