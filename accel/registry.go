package accel

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
)

// EnvVar names the environment variable that [Select] honours: "auto" (or
// empty) for the best backend that initialises, or a backend name.
const EnvVar = "AIOS_ACCEL"

// Registration describes a backend to [Register].
type Registration struct {
	// Name is what AIOS_ACCEL selects ("cuda").
	Name string
	// Priority orders backends for "auto": the highest that initialises
	// wins. The cpu backend has priority 0.
	Priority int
	// Open initialises the backend. It is called at most once per process;
	// an error says why the backend is unavailable on this machine (no
	// driver, no device, …).
	Open func() (Backend, error)
}

type entry struct {
	Registration
	once    sync.Once
	backend Backend
	err     error
}

func (e *entry) open() (Backend, error) {
	e.once.Do(func() {
		b, err := e.Open()
		switch {
		case err != nil:
			e.err = err
		case b == nil:
			e.err = fmt.Errorf("%s returned no backend", e.Name)
		default:
			e.backend = b
		}
	})
	return e.backend, e.err
}

var (
	regMu    sync.Mutex
	registry []*entry
)

// Register adds a backend. It is meant to be called from an init function;
// registering a name twice, an empty name or a nil Open is a programmer
// error and panics.
func Register(r Registration) {
	regMu.Lock()
	defer regMu.Unlock()
	if r.Name == "" || r.Open == nil || r.Name == "auto" {
		panic("accel: invalid registration " + r.Name)
	}
	for _, e := range registry {
		if e.Name == r.Name {
			panic("accel: backend registered twice: " + r.Name)
		}
	}
	registry = append(registry, &entry{Registration: r})
	slices.SortStableFunc(registry, func(a, b *entry) int { return b.Priority - a.Priority })
}

func entries() []*entry {
	regMu.Lock()
	defer regMu.Unlock()
	return slices.Clone(registry)
}

// Info is one registered backend as [Backends] reports it.
type Info struct {
	Name      string `json:"name"`
	Priority  int    `json:"priority"`
	Available bool   `json:"available"`
	Device    string `json:"device,omitempty"`
	// Reason says why the backend is unavailable.
	Reason string `json:"reason,omitempty"`
}

// Backends lists every registered backend, highest priority first, trying
// to initialise each (once per process).
func Backends() []Info {
	var out []Info
	for _, e := range entries() {
		in := Info{Name: e.Name, Priority: e.Priority}
		if b, err := e.open(); err != nil {
			in.Reason = err.Error()
		} else {
			in.Available, in.Device = true, b.Device()
		}
		out = append(out, in)
	}
	return out
}

// Select returns the backend named by the AIOS_ACCEL environment variable;
// see [SelectByName].
func Select() (Backend, error) { return SelectByName(os.Getenv(EnvVar)) }

// SelectByName returns the named backend. "auto" or "" picks the
// highest-priority backend that initialises (the cpu backend always does).
// An explicitly named backend that fails to initialise is an error wrapping
// [ErrUnavailable] with its reason; an unknown name wraps
// [ErrUnknownBackend].
func SelectByName(name string) (Backend, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	all := entries()
	if name == "" || name == "auto" {
		var reasons []string
		for _, e := range all {
			b, err := e.open()
			if err == nil {
				return b, nil
			}
			reasons = append(reasons, e.Name+": "+err.Error())
		}
		return nil, fmt.Errorf("%w: none initialised (%s)", ErrUnavailable, strings.Join(reasons, "; "))
	}
	var names []string
	for _, e := range all {
		if e.Name == name {
			b, err := e.open()
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
			}
			return b, nil
		}
		names = append(names, e.Name)
	}
	return nil, fmt.Errorf("%w %q (%s=auto|%s)", ErrUnknownBackend, name, EnvVar, strings.Join(names, "|"))
}
