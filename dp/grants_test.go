package dp

import (
	"context"
	"errors"
	"testing"
)

// TestGrants: a spender needs a grant of the budget to one of its
// grantees, in Release and in SpendableBudget; without it, "not granted"
// and "does not exist" read the same and reveal no ε; revoking stops the
// next release; the operator (nil) and an unrestricted spender need none.
func TestGrants(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t, t.TempDir(), LedgerOptions{})
	mustBudget(t, l, "tenant-a", MicroPerEpsilon)
	alice := &Spender{Name: "token:a1", Grantees: []string{"token:a1", "role:client"}}
	release := func(sp *Spender) error {
		_, err := l.Release(ctx, ReleaseRequest{Budget: "tenant-a", Query: mustQuery(t, 1000, 0.5), Spender: sp})
		return err
	}

	// Not granted, and unknown: one answer.
	errNotGranted := release(alice)
	_, errUnknown := l.Release(ctx, ReleaseRequest{Budget: "nope", Query: mustQuery(t, 1000, 0.5), Spender: alice})
	_, errEarly := l.SpendableBudget(ctx, "tenant-a", alice)
	_, errEarlyUnknown := l.SpendableBudget(ctx, "nope", alice)
	var ue *UnspendableError
	for name, err := range map[string]error{"release": errNotGranted, "release unknown": errUnknown, "check": errEarly, "check unknown": errEarlyUnknown} {
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnknownBudget) {
			t.Errorf("%s: %v, want an UnspendableError", name, err)
		}
	}
	if errNotGranted.Error() != `no budget "tenant-a" you may spend` || errEarly.Error() != errNotGranted.Error() {
		t.Errorf("not granted: %q / %q", errNotGranted, errEarly)
	}
	if st, _ := l.Budget(ctx, "tenant-a"); st.Spent != 0 {
		t.Fatalf("a refused spender was charged %v", st.Spent)
	}

	// A grant to the spender's role (or token) lets it spend.
	g, created, err := l.Grant(ctx, "tenant-a", "role:client", "token:admin")
	if err != nil || !created || g.Grantee != "role:client" || g.GrantedBy != "token:admin" || g.CreatedAt.IsZero() {
		t.Fatalf("grant: %+v %v %v", g, created, err)
	}
	if again, created, err := l.Grant(ctx, "tenant-a", "role:client", "someone else"); err != nil || created || again != g {
		t.Fatalf("granting again: %+v %v %v, want the first grant", again, created, err)
	}
	if err := release(alice); err != nil {
		t.Fatalf("granted release: %v", err)
	}
	if st, err := l.SpendableBudget(ctx, "tenant-a", alice); err != nil || st.Spent != 1000 {
		t.Fatalf("granted check: %+v %v", st, err)
	}
	bob := &Spender{Name: "token:b2", Grantees: []string{"token:b2", "role:auditor"}}
	if err := release(bob); !errors.As(err, &ue) {
		t.Errorf("another role: %v", err)
	}
	if gs, err := l.Grants(ctx, "tenant-a"); err != nil || len(gs) != 1 || gs[0] != g {
		t.Errorf("grants: %+v %v", gs, err)
	}

	// Revoked: the next release is refused.
	if err := l.Revoke(ctx, "tenant-a", "role:client"); err != nil {
		t.Fatal(err)
	}
	if err := release(alice); !errors.As(err, &ue) {
		t.Errorf("after revoke: %v", err)
	}
	if err := l.Revoke(ctx, "tenant-a", "role:client"); !errors.Is(err, ErrUnknownGrant) {
		t.Errorf("revoking twice: %v", err)
	}

	// The operator and an unrestricted spender need no grant.
	if err := release(nil); err != nil {
		t.Errorf("operator: %v", err)
	}
	if err := release(&Spender{Name: "token:root", Unrestricted: true}); err != nil {
		t.Errorf("unrestricted: %v", err)
	}
	if err := release(&Spender{Name: "token:none"}); !errors.As(err, &ue) {
		t.Errorf("a spender without grantees: %v", err)
	}
	if st, _ := l.Budget(ctx, "tenant-a"); st.Spent != 3000 || st.Releases != 3 {
		t.Errorf("spent %v in %d releases, want 3000 in 3", st.Spent, st.Releases)
	}
}

func TestGrantValidation(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t, t.TempDir(), LedgerOptions{})
	mustBudget(t, l, "b", MicroPerEpsilon)
	for _, g := range []string{"", "token:", "client", "user:x", "role:Client", "token:a b", "token:" + string(make([]byte, 65))} {
		if _, _, err := l.Grant(ctx, "b", g, "op"); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("grantee %q: %v", g, err)
		}
	}
	if _, _, err := l.Grant(ctx, "nope", "role:client", "op"); !errors.Is(err, ErrUnknownBudget) {
		t.Errorf("grant on an unknown budget: %v", err)
	}
	if _, err := l.Grants(ctx, "nope"); !errors.Is(err, ErrUnknownBudget) {
		t.Errorf("grants of an unknown budget: %v", err)
	}
	if err := l.Revoke(ctx, "nope", "role:client"); !errors.Is(err, ErrUnknownBudget) {
		t.Errorf("revoke on an unknown budget: %v", err)
	}
	if gs, err := l.Grants(ctx, "b"); err != nil || gs == nil || len(gs) != 0 {
		t.Errorf("no grants: %#v %v", gs, err)
	}
}
