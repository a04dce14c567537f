package api

import (
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/jobs"
	"github.com/aios-edge/aios/mpc"
)

// The errors each middleware can answer with; their statuses come from the
// error table (errorStatus), so that a change there reaches this test.
var (
	// requireRole: a missing or unknown token, a role the route does not
	// allow (every token route leaves out at least one role), the token's
	// rate limit.
	tokenErrors = []error{ErrUnauthenticated, ErrForbidden, ErrRateLimited}
	// admit: a body of unknown length above the memory budget, a body that
	// does not fit in the budget now.
	admitErrors = []error{ErrLengthRequired, ErrOverloaded}
	// readBody and its body reader: above the route's limit, slower than
	// the minimum rate, a broken body.
	bodyErrors = []error{ErrTooLarge, ErrBodyTimeout, ErrBadRequest}
	// The errors of an evaluation's input and keys (prepareJob, ReadInput,
	// CheckKeys) and of the job service taking it.
	inferErrors = []error{ErrNotFound, he.ErrMalformed, he.ErrTooLarge, he.ErrParamsMismatch,
		inference.ErrMissingKeys, inference.ErrKeyMismatch, inference.ErrCiphertext, inference.ErrFeatureCount,
		jobs.ErrQueueFull, jobs.ErrShuttingDown}
)

// routeStatuses is, per route, what its handler can answer: its success
// statuses and the errors of its middleware and its own code. Statuses
// every route can give are left out: 500 (an error outside the table) and
// 405 (a method the path does not serve); the document's overview states
// them once.
var routeStatuses = map[string]struct {
	ok     []int
	errors [][]error
}{
	"GET /metrics":         {ok: []int{200}},
	"GET /v1/health":       {ok: []int{200}},
	"GET /v1/params":       {ok: []int{200}},
	"GET /v1/openapi.yaml": {ok: []int{200}},
	// The console's files (package ui): 301 from /ui to /ui/ (and from
	// /ui/index.html to /ui/), 404 for a file it does not have.
	"GET /ui": {ok: []int{200, 301, 404}},

	"POST /v1/keys":        {[]int{200, 201}, [][]error{tokenErrors, admitErrors, bodyErrors, {he.ErrUnknownPreset, he.ErrMalformed, he.ErrTooLarge, he.ErrParamsMismatch}}},
	"GET /v1/keys/{id}":    {[]int{200}, [][]error{tokenErrors, {ErrNotFound}}},
	"DELETE /v1/keys/{id}": {[]int{204}, [][]error{tokenErrors, {ErrNotFound}}},

	"GET /v1/models":             {[]int{200}, [][]error{tokenErrors}},
	"GET /v1/models/{id}":        {[]int{200}, [][]error{tokenErrors, {ErrNotFound}}},
	"POST /v1/models":            {[]int{201}, [][]error{tokenErrors, admitErrors, bodyErrors, {inference.ErrMalformed, inference.ErrTooLarge, inference.ErrNoPreset}}},
	"POST /v1/models/{id}/infer": {[]int{200}, [][]error{tokenErrors, admitErrors, bodyErrors, inferErrors}},
	"POST /v1/jobs":              {[]int{202}, [][]error{tokenErrors, admitErrors, bodyErrors, inferErrors}},
	"GET /v1/jobs/{id}":          {[]int{200}, [][]error{tokenErrors, {jobs.ErrNotFound}}},
	"GET /v1/jobs/{id}/result":   {[]int{200}, [][]error{tokenErrors, {jobs.ErrNotFound, jobs.ErrConflict}}},

	"POST /v1/budgets":                           {[]int{201}, [][]error{tokenErrors, bodyErrors, {dp.ErrInvalidSpec, dp.ErrBudgetExists}}},
	"GET /v1/budgets":                            {[]int{200}, [][]error{tokenErrors}},
	"GET /v1/budgets/{name}":                     {[]int{200}, [][]error{tokenErrors, {dp.ErrUnknownBudget}}},
	"GET /v1/budgets/{name}/ledger":              {[]int{200}, [][]error{tokenErrors, {dp.ErrUnknownBudget, ErrBadRequest}}},
	"POST /v1/budgets/{name}/grants":             {[]int{200, 201}, [][]error{tokenErrors, bodyErrors, {ErrNotFound, dp.ErrUnknownBudget}}},
	"GET /v1/budgets/{name}/grants":              {[]int{200}, [][]error{tokenErrors, {dp.ErrUnknownBudget}}},
	"DELETE /v1/budgets/{name}/grants/{grantee}": {[]int{204}, [][]error{tokenErrors, {ErrBadRequest, dp.ErrUnknownGrant}}},
	"GET /v1/audit/checkpoint":                   {[]int{200}, [][]error{tokenErrors}},
	"GET /v1/audit/export":                       {[]int{200}, [][]error{tokenErrors}},

	"POST /v1/fl/federations":            {[]int{201}, [][]error{tokenErrors, bodyErrors, {ErrNotFound, ErrBadRequest}}},
	"GET /v1/fl/federations":             {[]int{200}, [][]error{tokenErrors, {ErrNotFound, ErrBadRequest}}},
	"GET /v1/fl/federations/{id}":        {[]int{200}, [][]error{tokenErrors, {ErrNotFound, ErrBadRequest}}},
	"GET /v1/fl/federations/{id}/global": {[]int{200}, [][]error{tokenErrors, {ErrNotFound, ErrBadRequest}}},
	"GET /v1/fl/federations/{id}/model":  {[]int{200}, [][]error{tokenErrors, {ErrNotFound, ErrBadRequest}}},
	"POST /v1/fl/rounds":                 {[]int{202}, [][]error{tokenErrors, bodyErrors, {ErrNotFound, ErrBadRequest}}},

	"POST /v1/mpc/sessions":            {[]int{201}, [][]error{tokenErrors, bodyErrors, {ErrMPCDisabled, mpc.ErrInvalidSession, dp.ErrUnknownBudget, dp.ErrBudgetExhausted}}},
	"POST /v1/mpc/sessions/{id}/input": {[]int{202}, [][]error{tokenErrors, admitErrors, bodyErrors, {ErrMPCDisabled, ErrForbidden, mpc.ErrUnknownSession, mpc.ErrInput, mpc.ErrInputsFull}}},
	"GET /v1/mpc/sessions":             {[]int{200}, [][]error{tokenErrors, {ErrMPCDisabled, ErrBadRequest}}},
	"GET /v1/mpc/sessions/{id}":        {[]int{200}, [][]error{tokenErrors, {ErrMPCDisabled, ErrBadRequest, mpc.ErrUnknownSession}}},
	// optionalPeer checks a token when one is sent; the header checks
	// (CheckHeader), the memory reservation and Deliver follow.
	"POST /v1/mpc/messages": {[]int{204}, [][]error{tokenErrors, bodyErrors, {ErrMPCDisabled, mpc.ErrAuth, mpc.ErrTooLarge, mpc.ErrMalformed,
		mpc.ErrUnknownSession, mpc.ErrReplay, mpc.ErrUnexpected, mpc.ErrMisrouted, mpc.ErrDeclined, ErrOverloaded, ErrShuttingDown}}},
}

// statusesOf is the set of statuses a route's table entry says it answers.
func statusesOf(t *testing.T, ok []int, errs [][]error) map[int]bool {
	set := map[int]bool{}
	for _, s := range ok {
		set[s] = true
	}
	for _, list := range errs {
		for _, err := range list {
			status, _ := statusOf(fmt.Errorf("wrapped: %w", err))
			if status == http.StatusInternalServerError {
				t.Fatalf("routeStatuses names %v, which the error table does not know", err)
			}
			set[status] = true
		}
	}
	return set
}

// TestOpenAPIStatuses fails when a route can answer with a status that the
// document does not list for it, or the document lists one the route cannot
// give; and when a served route is missing from routeStatuses.
func TestOpenAPIStatuses(t *testing.T) {
	n := newTestNode(t, Config{})
	documented := specStatuses(OpenAPISpec())
	err := chi.Walk(n.srv.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = method + " " + strings.ReplaceAll(strings.TrimSuffix(route, "/"), "/*", "")
		entry, ok := routeStatuses[route]
		if !ok {
			t.Errorf("%s is served but routeStatuses does not say what it answers", route)
			return nil
		}
		can, doc := statusesOf(t, entry.ok, entry.errors), documented[route]
		for _, s := range slices.Sorted(maps.Keys(can)) {
			if !doc[s] {
				t.Errorf("%s can answer %d, which openapi.yaml does not list", route, s)
			}
		}
		for _, s := range slices.Sorted(maps.Keys(doc)) {
			if !can[s] {
				t.Errorf("openapi.yaml lists %d for %s, which it cannot answer", s, route)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenAPIAccuracyKeys: the document's ModelInfo.accuracy lists exactly
// the keys of inference.Accuracy.
func TestOpenAPIAccuracyKeys(t *testing.T) {
	spec := string(OpenAPISpec())
	start := strings.Index(spec, "\n        accuracy:\n")
	end := strings.Index(spec, "\n        dataset:")
	if start < 0 || end < start {
		t.Fatal("no accuracy object in ModelInfo")
	}
	documented := regexp.MustCompile(`(?m)^            ([a-z_]+):`).FindAllStringSubmatch(spec[start:end], -1)
	var want, got []string
	for f := range reflect.TypeFor[inference.Accuracy]().Fields() {
		want = append(want, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	for _, m := range documented {
		got = append(got, m[1])
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("accuracy keys documented %v, inference.Accuracy has %v", got, want)
	}
}
