package mcpguard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// RecordKind says what an audit [Record] describes.
type RecordKind string

// The kinds of audit record. One guarded tool call leaves a decision, an
// exchange (when a token exchanger is configured) and an inspection record on
// the client side, and a decision and an execution record on the server side,
// all carrying the same request id.
const (
	KindConnection RecordKind = "connection" // a TLS connection was accepted or refused
	KindDecision   RecordKind = "decision"   // catalog and policy allowed or refused a call
	KindExchange   RecordKind = "exchange"   // a session token was traded for a per-call token
	KindExecution  RecordKind = "execution"  // the server ran (or failed to run) a tool
	KindInspection RecordKind = "inspection" // a response was inspected before the model read it
	KindCatalog    RecordKind = "catalog"    // a tool list was checked against the catalog
)

// Record is one audit entry. Records hold identifiers and hashes, never
// secrets: tokens appear as their ids, arguments as a SHA-256 of their
// canonical form, flagged spans as a keyed hash.
type Record struct {
	Seq              uint64     `json:"seq"`
	Time             time.Time  `json:"time"`
	Kind             RecordKind `json:"kind"`
	Side             Side       `json:"side,omitempty"`
	User             string     `json:"user,omitempty"`
	Tenant           string     `json:"tenant,omitempty"`
	Session          string     `json:"session,omitempty"`
	TransportSession string     `json:"transportSession,omitempty"`
	Server           string     `json:"server,omitempty"`
	Method           string     `json:"method,omitempty"`
	Tool             string     `json:"tool,omitempty"`
	RequestID        string     `json:"requestId,omitempty"`
	// Outcome is "allow", "deny", "ok", "error", "clean", "modified" or
	// "blocked", depending on the kind.
	Outcome string `json:"outcome,omitempty"`
	// Code and Stage say why, for refusals (see [Error]).
	Code   string `json:"code,omitempty"`
	Stage  string `json:"stage,omitempty"`
	Reason string `json:"reason,omitempty"`
	// ArgsHash is the hex SHA-256 of the call's arguments.
	ArgsHash string   `json:"argsHash,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	// TokenID is the jti of the per-call token; SubjectTokenID identifies the
	// session token it was exchanged from.
	TokenID        string        `json:"tokenId,omitempty"`
	SubjectTokenID string        `json:"subjectTokenId,omitempty"`
	TTL            time.Duration `json:"ttl,omitempty"`
	// Findings are the inspection findings, as keyed hashes.
	Findings []AuditFinding `json:"findings,omitempty"`
	// Conn describes the TLS connection, for connection records.
	Conn *ConnInfo `json:"conn,omitempty"`
	// Prev is the hash of the previous record; Hash is this record's hash
	// over everything above (see [AuditLog.Verify]).
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// AuditFinding is the audit form of an inspection [Finding]: the rule that
// fired, what was done, and an HMAC of the matched span under the
// deployment's key.
type AuditFinding struct {
	Kind   string `json:"kind"`
	Rule   string `json:"rule"`
	Action Action `json:"action"`
	Where  string `json:"where,omitempty"`
	HMAC   string `json:"hmac"`
}

// ConnInfo describes a TLS connection in a connection record.
type ConnInfo struct {
	RemoteAddr    string `json:"remoteAddr,omitempty"`
	ClientSubject string `json:"clientSubject,omitempty"`
	ClientPin     string `json:"clientPin,omitempty"`
	ServerSubject string `json:"serverSubject,omitempty"`
	ServerPin     string `json:"serverPin,omitempty"`
	TLSVersion    string `json:"tlsVersion,omitempty"`
	CipherSuite   string `json:"cipherSuite,omitempty"`
}

// AuditSink receives every record after it is sealed (numbered and hashed),
// before Append returns. If Write fails, Append fails and the guard refuses
// the call: no tool runs unaudited.
type AuditSink interface {
	Write(ctx context.Context, r *Record) error
}

// AuditSinkFunc adapts a function to [AuditSink].
type AuditSinkFunc func(ctx context.Context, r *Record) error

// Write calls f.
func (f AuditSinkFunc) Write(ctx context.Context, r *Record) error { return f(ctx, r) }

// AuditLog is an append-only, hash-chained log of audit records. It keeps the
// records in memory for [AuditLog.Query] and forwards each to an optional
// [AuditSink]. It is safe for concurrent use; appends are totally ordered.
type AuditLog struct {
	sink AuditSink

	mu      sync.Mutex
	records []Record
	last    string // hash of the newest record
}

// AuditLogOption configures [NewAuditLog].
type AuditLogOption func(*AuditLog)

// WithAuditSink forwards every record to s as it is appended.
func WithAuditSink(s AuditSink) AuditLogOption {
	return func(l *AuditLog) { l.sink = s }
}

// NewAuditLog returns an empty in-memory log.
func NewAuditLog(opts ...AuditLogOption) *AuditLog {
	l := &AuditLog{}
	for _, o := range opts {
		o(l)
	}
	return l
}

// ErrAuditSink is wrapped by errors from [AuditLog.Append] when the sink
// failed to take the record.
var ErrAuditSink = errors.New("mcpguard: audit sink failed")

// Append numbers, chains and hashes r, hands it to the sink, and stores it.
// The returned record is the sealed copy. If the sink fails, the record is
// not stored and the error wraps [ErrAuditSink].
func (l *AuditLog) Append(ctx context.Context, r Record) (Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Seq = uint64(len(l.records))
	r.Prev = l.last
	r.Hash = ""
	h, err := recordHash(&r)
	if err != nil {
		return Record{}, fmt.Errorf("mcpguard: audit: encoding record: %w", err)
	}
	r.Hash = h
	if l.sink != nil {
		if err := l.sink.Write(ctx, &r); err != nil {
			return Record{}, fmt.Errorf("%w: %w", ErrAuditSink, err)
		}
	}
	l.records = append(l.records, r)
	l.last = h
	return r, nil
}

// recordHash is the hex SHA-256 of 0x00 followed by the JSON encoding of r
// with an empty Hash: the RFC 6962 leaf hash of that encoding.
func recordHash(r *Record) (string, error) {
	saved := r.Hash
	r.Hash = ""
	b, err := json.Marshal(r)
	r.Hash = saved
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Len returns the number of records.
func (l *AuditLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.records)
}

// Records returns a copy of all records in order.
func (l *AuditLog) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records)
}

// AuditQuery selects records. Empty fields match everything.
type AuditQuery struct {
	User, Tool, Session, RequestID string
	Kind                           RecordKind
	Since, Until                   time.Time
}

func (q *AuditQuery) match(r *Record) bool {
	return (q.User == "" || q.User == r.User) &&
		(q.Tool == "" || q.Tool == r.Tool) &&
		(q.Session == "" || q.Session == r.Session) &&
		(q.RequestID == "" || q.RequestID == r.RequestID) &&
		(q.Kind == "" || q.Kind == r.Kind) &&
		(q.Since.IsZero() || !r.Time.Before(q.Since)) &&
		(q.Until.IsZero() || r.Time.Before(q.Until))
}

// Query returns the records that match q, in log order.
func (l *AuditLog) Query(q AuditQuery) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Record
	for i := range l.records {
		if q.match(&l.records[i]) {
			out = append(out, l.records[i])
		}
	}
	return out
}

// Trace returns every record of one call, on both sides when both guards
// write to this log, in log order.
func (l *AuditLog) Trace(requestID string) []Record {
	if requestID == "" {
		return nil
	}
	return l.Query(AuditQuery{RequestID: requestID})
}

// VerifyRecords checks that records form an unbroken chain starting at
// sequence 0: each record's hash matches its contents and each Prev names the
// record before it. It returns an error naming the first bad index.
func VerifyRecords(records []Record) error {
	prev := ""
	for i := range records {
		r := &records[i]
		if r.Seq != uint64(i) {
			return &ChainError{Index: i, Reason: fmt.Sprintf("sequence %d out of place", r.Seq)}
		}
		if r.Prev != prev {
			return &ChainError{Index: i, Reason: "previous-hash link broken"}
		}
		h, err := recordHash(r)
		if err != nil {
			return &ChainError{Index: i, Reason: err.Error()}
		}
		if h != r.Hash {
			return &ChainError{Index: i, Reason: "record hash mismatch"}
		}
		prev = r.Hash
	}
	return nil
}

// Verify checks the whole in-memory chain (see [VerifyRecords]).
func (l *AuditLog) Verify() error { return VerifyRecords(l.Records()) }

// ChainError reports where a hash chain is broken.
type ChainError struct {
	Index  int
	Reason string
}

// Error implements error.
func (e *ChainError) Error() string {
	return fmt.Sprintf("mcpguard: audit chain broken at record %d: %s", e.Index, e.Reason)
}

// record returns an audit record pre-filled from call.
func (g *Guard) record(kind RecordKind, call *Call) Record {
	return Record{
		Time: g.now(), Kind: kind, Side: call.Side,
		User: call.User, Tenant: call.Tenant, Session: call.Session, TransportSession: call.TransportSession,
		Server: call.Server, Method: call.Method, Tool: call.Tool, RequestID: call.RequestID,
		ArgsHash: argsHash(call.RawArguments), TokenID: call.TokenID,
	}
}

// audit appends r; a failing log refuses the call.
func (g *Guard) audit(ctx context.Context, r Record) error {
	if _, err := g.cfg.audit.Append(ctx, r); err != nil {
		return errorf(CodeUnavailable, "audit", err, "audit log unavailable; refusing to act unaudited")
	}
	return nil
}

// clientFailed records a failed call and returns the error the host sees:
// a guarded server's refusal as *Error, other errors as they came.
func (g *Guard) clientFailed(ctx context.Context, call *Call, err error) error {
	err = fromWireError(err)
	rec := g.record(KindInspection, call)
	rec.Outcome = "error"
	var ge *Error
	if errors.As(err, &ge) {
		rec.Code, rec.Stage, rec.Reason = ge.Code.String(), ge.Stage, ge.Message
	}
	if aerr := g.audit(ctx, rec); aerr != nil {
		return withRequestID(aerr, call.RequestID)
	}
	return withRequestID(err, call.RequestID)
}

// refuse records a refusal that happened before admission (a malformed
// request) and returns it.
func (g *Guard) refuse(ctx context.Context, call *Call, err error) error {
	rec := g.record(KindDecision, call)
	rec.Outcome = "deny"
	var ge *Error
	if errors.As(err, &ge) {
		rec.Code, rec.Stage, rec.Reason = ge.Code.String(), ge.Stage, ge.Message
	}
	if aerr := g.audit(ctx, rec); aerr != nil {
		err = aerr
	}
	return withRequestID(err, call.RequestID)
}
