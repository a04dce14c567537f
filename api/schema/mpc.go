package schema

import "time"

// MPCSessionRequest is the body of POST /v1/mpc/sessions. This node is the
// coordinator (and output party).
type MPCSessionRequest struct {
	// Participants are node ids; empty: this node, then every peer in the
	// peers file. This node must be one of them.
	Participants []string `json:"participants,omitempty"`
	// InputParties are the participants that contribute (empty: all).
	InputParties []string `json:"input_parties,omitempty"`
	Threshold    int      `json:"threshold"`
	Operation    string   `json:"operation"`
	Dimension    int      `json:"dimension"`
	FracBits     int      `json:"frac_bits"`
	Lower        float64  `json:"lower"`
	Upper        float64  `json:"upper"`
	MaxWeight    float64  `json:"max_weight,omitempty"`
	MaxItems     int      `json:"max_items,omitempty"`
	Budget       string   `json:"budget"`
	// Epsilon is the ε of the release, a decimal such as "0.5". The
	// creating token must hold a grant of Budget (admins need none).
	Epsilon string `json:"epsilon"`
	// InputFrom names who, besides the creator, may give this node's
	// input: "token:<id>" or "role:<role>" of this node (empty: the creator
	// only; admins always may).
	InputFrom []string `json:"input_from,omitempty"`
	// ReleaseTo names who, besides the creator, may read the release, in
	// the same form (empty: the creator only; admins always may; auditors
	// read the session but not the release unless named here).
	ReleaseTo []string `json:"release_to,omitempty"`
	// Phase lengths in seconds (defaults 10, 60, 30, 30): the acceptance
	// deadline is now + accept, each later one the previous plus its phase.
	AcceptSeconds float64 `json:"accept_seconds,omitempty"`
	InputSeconds  float64 `json:"input_seconds,omitempty"`
	ReportSeconds float64 `json:"report_seconds,omitempty"`
	OutputSeconds float64 `json:"output_seconds,omitempty"`
}

// MPCInputRequest is the body of POST /v1/mpc/sessions/{id}/input.
type MPCInputRequest struct {
	Values []float64 `json:"values"`
	Weight float64   `json:"weight,omitempty"`
}

// MPCSessionSpec is a session's public specification.
type MPCSessionSpec struct {
	Coordinator  string    `json:"coordinator"`
	Participants []string  `json:"participants"`
	InputParties []string  `json:"input_parties,omitempty"`
	Threshold    int       `json:"threshold"`
	Operation    string    `json:"operation"`
	Dimension    int       `json:"dimension"`
	FracBits     int       `json:"frac_bits"`
	Lower        float64   `json:"lower"`
	Upper        float64   `json:"upper"`
	MaxWeight    float64   `json:"max_weight,omitempty"`
	MaxItems     int       `json:"max_items,omitempty"`
	Budget       string    `json:"budget"`
	EpsilonMicro int64     `json:"epsilon_micro"`
	AcceptBy     time.Time `json:"accept_by"`
	InputBy      time.Time `json:"input_by"`
	ReportBy     time.Time `json:"report_by"`
	OutputBy     time.Time `json:"output_by"`
}

// MPCExcluded is a dealer left out of a session and why.
type MPCExcluded struct {
	Node   string `json:"node"`
	Phase  int    `json:"phase"`
	Reason string `json:"reason"`
	// Reporter is the node whose evidence convicted Node: the accuser of a
	// dealer, or the dealer whose opening refuted a false accusation.
	Reporter string `json:"reporter,omitempty"`
	// Cheating is set when the excluded node did something provably wrong
	// (a bad dealing, a false accusation), not merely nothing, and not
	// merely drew more complaints than the session could settle.
	Cheating bool `json:"cheating"`
}

// MPCRelease is a session's released (dp-noised) result.
type MPCRelease struct {
	Operation    string     `json:"operation"`
	Values       []float64  `json:"values"`
	CI           []Interval `json:"ci95"`
	EpsilonMicro int64      `json:"epsilon_micro"`
	Epsilon      string     `json:"epsilon"`
	LedgerSeqs   []int64    `json:"ledger_seqs"`
	Dealers      int        `json:"dealers"`
}

// MPCStats is this node's time per phase and traffic.
type MPCStats struct {
	ShareSeconds       float64 `json:"share_seconds"`
	VerifySeconds      float64 `json:"verify_seconds"`
	CombineSeconds     float64 `json:"combine_seconds"`
	ReconstructSeconds float64 `json:"reconstruct_seconds"`
	TotalSeconds       float64 `json:"total_seconds"`
	BytesSent          int64   `json:"bytes_sent"`
	InputBytes         int64   `json:"input_bytes"`
}

// MPCSessionStatus is a session as this node sees it: never a share or the
// raw aggregate; the release only on the coordinator, and only to those
// its Access lets read it.
type MPCSessionStatus struct {
	ID          string          `json:"id"`
	State       string          `json:"state"`
	Spec        *MPCSessionSpec `json:"spec,omitempty"`
	Roster      []string        `json:"roster"`
	Included    []string        `json:"included"`
	Excluded    []MPCExcluded   `json:"excluded"`
	Holders     []string        `json:"holders"`
	WrongOutput []string        `json:"wrong_output"`
	Release     *MPCRelease     `json:"release,omitempty"`
	Stats       MPCStats        `json:"stats"`
	Error       string          `json:"error,omitempty"`
	// Access says who may use the session on this node (absent when no
	// token owns it here yet).
	Access *MPCAccess `json:"access,omitempty"`
	// Started is when this node started the session (accepted its
	// proposal, or proposed it).
	Started time.Time `json:"started_at"`
}

// MPCSessionList is GET /v1/mpc/sessions: the sessions this node keeps
// that the caller may see, newest first, at most Limit of them; Total
// counts them all.
type MPCSessionList struct {
	Sessions []MPCSessionStatus `json:"sessions"`
	Limit    int                `json:"limit"`
	Total    int                `json:"total"`
}

// MPCAccess is who may use a session on one node: its owner (the token
// that created it, or on a participant node the token that gave this
// node's input), who may give this node's input and who may read the
// release, each besides the owner and the node's admins.
type MPCAccess struct {
	Owner     string   `json:"owner"`
	InputFrom []string `json:"input_from"`
	ReleaseTo []string `json:"release_to"`
}

// Interval is a confidence interval of a released value.
type Interval struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}
