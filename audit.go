package mcpguard

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mcpguard/mcpguard/internal/auditfile"
	"github.com/mcpguard/mcpguard/internal/auditlog"
	"github.com/mcpguard/mcpguard/internal/checkpoint"
	"github.com/mcpguard/mcpguard/internal/merkle"
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

// AuditLog is an append-only, hash-chained log of audit records, and an
// RFC 6962 Merkle tree over them with optional signed checkpoints. Each
// record's hash is the Merkle leaf hash of its encoding; each record carries
// its predecessor's hash. A log from [NewAuditLog] lives in memory; one from
// [OpenAuditLog] is also written to a file with group commit, and Append
// returns only once the record is on disk (or, with [WithSyncInterval],
// written to the file and fsynced within the interval). It is safe for
// concurrent use; appends are totally ordered.
type AuditLog struct {
	sink   AuditSink
	signer *CheckpointSigner
	retain int
	every  int
	sync   time.Duration
	store  auditlog.Store

	mu      sync.Mutex
	records []Record // the retained window, oldest first
	last    string   // hash of the newest record
	closed  bool
}

// AuditLogOption configures [NewAuditLog] and [OpenAuditLog].
type AuditLogOption func(*AuditLog)

// WithAuditSink forwards every record to s as it is appended.
func WithAuditSink(s AuditSink) AuditLogOption {
	return func(l *AuditLog) { l.sink = s }
}

// WithCheckpointSigner signs a checkpoint (tree size and root) every
// [WithCheckpointEvery] records and when the log is closed.
func WithCheckpointSigner(s *CheckpointSigner) AuditLogOption {
	return func(l *AuditLog) { l.signer = s }
}

// WithCheckpointEvery sets how many records pass between automatic
// checkpoints (default 1000; 0 turns automatic checkpoints off).
func WithCheckpointEvery(n int) AuditLogOption {
	return func(l *AuditLog) { l.every = max(n, 0) }
}

// WithRetainedRecords bounds how many recent records the log keeps in
// memory for Query and Trace (default: all for in-memory logs, 100,000 for
// file logs, whose full history stays in the file).
func WithRetainedRecords(n int) AuditLogOption {
	return func(l *AuditLog) { l.retain = max(n, 1) }
}

// WithCommitTimeout bounds how long Append waits for the disk (default 5 s).
// Past it the append fails and the guard refuses the call; the record may
// still reach the file, never half-written.
func WithCommitTimeout(d time.Duration) AuditLogOption {
	return func(l *AuditLog) {
		if d > 0 {
			l.store.Timeout = d
		}
	}
}

// WithSyncInterval trades a bounded window of durability for latency, as
// auditd's incremental_async flush and PostgreSQL's synchronous_commit=off
// do. By default (0) a file log fsyncs before Append returns, so a call is
// acknowledged only once its records would survive power loss; one caller
// then waits for an fsync at each commit point of a call. With d > 0,
// Append returns once the record is written to the file — it survives a
// crash or kill of this process, because the kernel holds it — and a
// background flusher fsyncs within d: an operating-system crash or power
// loss can lose up to the last d of records. A failed background fsync
// poisons the log: every later Append fails and the guard refuses calls.
// Ignored by in-memory logs.
func WithSyncInterval(d time.Duration) AuditLogOption {
	return func(l *AuditLog) { l.sync = max(d, 0) }
}

// NewAuditLog returns an empty in-memory log.
func NewAuditLog(opts ...AuditLogOption) *AuditLog {
	l := &AuditLog{every: 1000, store: auditlog.Store{Timeout: 5 * time.Second}}
	for _, o := range opts {
		o(l)
	}
	l.store.Every = uint64(l.every)
	if l.signer != nil {
		l.store.Signer, l.store.Origin = l.signer.signer, l.signer.origin
	}
	return l
}

// maxAuditBacklog bounds the bytes waiting for the disk; past it, appends
// fail fast rather than queue without bound.
const maxAuditBacklog = 64 << 20

// OpenAuditLog opens (or creates) the log file at path and appends to it.
// The existing file is verified first: a torn last record from a crash is
// cut off, anything else wrong (an edited, missing or reordered record, a
// checkpoint that does not match) makes OpenAuditLog fail rather than extend
// a broken log.
func OpenAuditLog(path string, opts ...AuditLogOption) (*AuditLog, error) {
	l := NewAuditLog(append([]AuditLogOption{WithRetainedRecords(100_000)}, opts...)...)
	size, err := l.load(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	w, err := auditfile.Open(path, size, maxAuditBacklog, l.sync)
	if err != nil {
		return nil, fmt.Errorf("mcpguard: audit log %s: %w", path, err)
	}
	l.store.File = w
	return l, nil
}

// LoadAuditLog reads and verifies the log file at path into a read-only log
// (Append fails), for reviewers: queries, traces and proofs over the file.
// With [WithCheckpointSigner] the checkpoints' signatures are verified too.
// A broken file is an error naming the first bad record.
func LoadAuditLog(path string, opts ...AuditLogOption) (*AuditLog, error) {
	l := NewAuditLog(opts...)
	if _, err := l.load(path); err != nil {
		return nil, err
	}
	l.closed = true
	return l, nil
}

// load verifies the file at path and loads it, returning the length of its
// complete part; only the retained window of records is decoded.
func (l *AuditLog) load(path string) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	var verifier *checkpoint.Verifier
	if l.signer != nil {
		verifier = l.signer.verifier
	}
	window := uint64(math.MaxUint64)
	if l.retain > 0 {
		window = uint64(l.retain)
	}
	size, problem, err := l.store.Load(path, verifier, window, func(line []byte) error {
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		l.keep(r)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mcpguard: audit log %s: %w", path, err)
	}
	if problem != nil {
		return 0, &ChainError{Index: int(problem.Index), Reason: problem.Reason}
	}
	return size, nil
}

// keep adds a sealed record to the retained window.
func (l *AuditLog) keep(r Record) {
	l.records = append(l.records, r)
	if l.retain > 0 && len(l.records) > l.retain {
		// Drop the oldest half of the overflow at once, so trimming is
		// amortized O(1).
		drop := len(l.records) - l.retain + l.retain/2
		l.records = slices.Delete(l.records, 0, drop)
	}
	l.last = r.Hash
}

// ErrAuditSink is wrapped by errors from [AuditLog.Append] when the sink
// or the file failed to take the record.
var ErrAuditSink = errors.New("mcpguard: audit sink failed")

// Append numbers, chains and hashes r, hands it to the sink, writes it to
// the file (waiting until it is durable) and keeps it. The returned record is
// the sealed copy. Any failure wraps [ErrAuditSink]; the guard then refuses
// the call.
func (l *AuditLog) Append(ctx context.Context, r Record) (Record, error) {
	r, ticket, err := l.appendQueued(ctx, r)
	if err != nil {
		return Record{}, err
	}
	if err := l.commit(ticket); err != nil {
		return Record{}, err
	}
	return r, nil
}

// commit waits until every record up to ticket is durable.
func (l *AuditLog) commit(ticket uint64) error {
	if err := l.store.Wait(ticket); err != nil {
		return fmt.Errorf("%w: %w", ErrAuditSink, err)
	}
	return nil
}

// appendQueued is Append without waiting for the disk: the record is
// sealed, handed to the sink and queued; it is durable once commit(ticket)
// returns. Tickets are ordered, so committing a later one commits all
// earlier ones.
func (l *AuditLog) appendQueued(ctx context.Context, r Record) (Record, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Record{}, 0, fmt.Errorf("%w: log is closed", ErrAuditSink)
	}
	r.Seq, r.Prev, r.Hash = l.store.Size(), l.last, ""
	encoded, err := json.Marshal(&r)
	if err != nil {
		return Record{}, 0, fmt.Errorf("mcpguard: audit: encoding record: %w", err)
	}
	line, leaf, err := auditfile.SealLine(encoded)
	if err != nil {
		return Record{}, 0, err
	}
	r.Hash = hex.EncodeToString(leaf[:])
	if l.sink != nil {
		if err := l.sink.Write(ctx, &r); err != nil {
			return Record{}, 0, fmt.Errorf("%w: %w", ErrAuditSink, err)
		}
	}
	ticket, err := l.store.Add(line, leaf)
	if err != nil {
		return Record{}, 0, fmt.Errorf("%w: %w", ErrAuditSink, err)
	}
	l.keep(r)
	return r, ticket, nil
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
	leaf := merkle.LeafHash(b)
	return hex.EncodeToString(leaf[:]), nil
}

// Len returns the number of records ever appended.
func (l *AuditLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.store.Size())
}

// Records returns a copy of the retained records in order.
func (l *AuditLog) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records)
}

// Query returns the retained records that match q, in log order.
func (l *AuditLog) Query(q AuditQuery) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return queryRecords(l.records, q)
}

func queryRecords(records []Record, q AuditQuery) []Record {
	var out []Record
	for i := range records {
		if q.match(&records[i]) {
			out = append(out, records[i])
		}
	}
	return out
}

// Trace returns the chain of one call: the records carrying its request id
// (decision, exchange, execution, inspection, on both sides when both guards
// write here) preceded by the connection records of its session (the link
// from client certificate to user session). See [TraceRecords].
func (l *AuditLog) Trace(requestID string) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return TraceRecords(l.records, requestID)
}

// TraceRecords is [AuditLog.Trace] over a slice of records, e.g. from
// [ReadAuditFile].
func TraceRecords(records []Record, requestID string) []Record {
	if requestID == "" {
		return nil
	}
	call := queryRecords(records, AuditQuery{RequestID: requestID})
	sessions := map[string]bool{}
	for _, r := range call {
		if r.Session != "" {
			sessions[r.Session] = true
		}
		if r.TransportSession != "" {
			sessions["transport:"+r.TransportSession] = true
		}
	}
	var out []Record
	for i := range records {
		r := &records[i]
		if r.Kind == KindConnection && (sessions[r.Session] && r.Session != "" ||
			sessions["transport:"+r.TransportSession] && r.TransportSession != "") {
			out = append(out, *r)
		}
	}
	return append(out, call...)
}

// Verify checks the retained chain (see [VerifyRecords]) and that it ends at
// the tree's latest leaf.
func (l *AuditLog) Verify() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if uint64(len(l.records)) == l.store.Size() {
		return VerifyRecords(l.records)
	}
	return l.verifyWindow()
}

// verifyWindow checks a retained window that starts after record 0.
func (l *AuditLog) verifyWindow() error {
	for i := range l.records {
		r := &l.records[i]
		leaf := l.store.Leaf(r.Seq)
		h, err := recordHash(r)
		if err != nil || h != r.Hash || h != hex.EncodeToString(leaf[:]) {
			return &ChainError{Index: int(r.Seq), Reason: "record hash mismatch"}
		}
		if i > 0 && r.Prev != l.records[i-1].Hash {
			return &ChainError{Index: int(r.Seq), Reason: "previous-hash link broken"}
		}
	}
	return nil
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
	b, batched := auditlog.BatchFrom(ctx)
	if !batched {
		if _, err := g.cfg.audit.Append(ctx, r); err != nil {
			return errorf(CodeUnavailable, "audit", err, "audit log unavailable; refusing to act unaudited")
		}
		return nil
	}
	_, ticket, err := g.cfg.audit.appendQueued(ctx, r)
	if err != nil {
		return errorf(CodeUnavailable, "audit", err, "audit log unavailable; refusing to act unaudited")
	}
	b.Add(ticket)
	return nil
}

// commitAudit makes the request's records so far durable (see
// [auditlog.Batch]); an error refuses the request.
func (g *Guard) commitAudit(ctx context.Context) error {
	b, ok := auditlog.BatchFrom(ctx)
	if !ok {
		return nil
	}
	if err := g.cfg.audit.commit(b.Ticket()); err != nil {
		return errorf(CodeUnavailable, "audit", err, "audit log unavailable; refusing to act unaudited")
	}
	return nil
}

// commitBeforeAct commits before the guard acts, unless the deployment chose
// to commit only before returning (see [WithAuditCommitBeforeReturn]).
func (g *Guard) commitBeforeAct(ctx context.Context) error {
	if g.cfg.commitBeforeReturn {
		return nil
	}
	return g.commitAudit(ctx)
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
	} else {
		err, rec.Findings = g.inspectError(ctx, call, err)
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

// CheckpointSigner signs checkpoints of a log with an Ed25519 key, in the
// signed-note format of golang.org/x/mod/sumdb/note (the format transparency
// logs use). The origin names the log.
type CheckpointSigner struct {
	origin   string
	signer   *checkpoint.Signer
	verifier *checkpoint.Verifier
}

// NewCheckpointSigner returns a signer for the log named origin (no spaces
// or '+').
func NewCheckpointSigner(origin string, key ed25519.PrivateKey) (*CheckpointSigner, error) {
	s, err := checkpoint.NewSigner(origin, key)
	if err != nil {
		return nil, fmt.Errorf("mcpguard: NewCheckpointSigner: %w", err)
	}
	v, err := checkpoint.ParseVerifierKey(s.VerifierKey())
	if err != nil {
		return nil, err
	}
	return &CheckpointSigner{origin: origin, signer: s, verifier: v}, nil
}

// VerifierKey is the public key reviewers use to check checkpoints, in
// note form ("origin+hash+base64key"); give it to auditctl verify --key.
func (s *CheckpointSigner) VerifierKey() string { return s.signer.VerifierKey() }

// SignedCheckpoint is a signed tree head: the log had Size records and the
// Merkle root Root when it was signed.
type SignedCheckpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
	// Note is the signed note as published.
	Note string
}

// OpenCheckpoint verifies a published checkpoint note against a verifier
// key and returns it.
func OpenCheckpoint(note, verifierKey string) (*SignedCheckpoint, error) {
	v, err := checkpoint.ParseVerifierKey(verifierKey)
	if err != nil {
		return nil, err
	}
	return parseSignedCheckpoint(note, v)
}

func parseSignedCheckpoint(note string, v *checkpoint.Verifier) (*SignedCheckpoint, error) {
	if _, err := v.Open(note); err != nil {
		return nil, err
	}
	cp, err := auditfile.ParseNoteUnverified(note)
	if err != nil {
		return nil, err
	}
	return &SignedCheckpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Root, Note: note}, nil
}

// Checkpoint signs the current tree head, writes it to the file (if any)
// and returns it.
func (l *AuditLog) Checkpoint() (*SignedCheckpoint, error) {
	l.mu.Lock()
	if l.signer == nil {
		l.mu.Unlock()
		return nil, errors.New("mcpguard: audit log has no checkpoint signer")
	}
	ticket, err := l.store.Checkpoint()
	cps := l.store.Checkpoints()
	cp := signedFrom(cps[len(cps)-1])
	l.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditSink, err)
	}
	if err := l.store.Wait(ticket); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditSink, err)
	}
	return &cp, nil
}

func signedFrom(s auditlog.Signed) SignedCheckpoint {
	return SignedCheckpoint{Origin: s.Origin, Size: s.Size, Root: s.Root, Note: s.Note}
}

// Checkpoints returns the checkpoints signed so far, oldest first.
func (l *AuditLog) Checkpoints() []SignedCheckpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []SignedCheckpoint
	for _, c := range l.store.Checkpoints() {
		out = append(out, signedFrom(c))
	}
	return out
}

// Root returns the Merkle root over the first size records.
func (l *AuditLog) Root(size uint64) ([32]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store.Root(size)
}

// InclusionProof proves that record index is in the tree of the first size
// records (RFC 9162 §2.1.3). Check it with [VerifyInclusion].
func (l *AuditLog) InclusionProof(index, size uint64) ([][32]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store.InclusionProof(index, size)
}

// ConsistencyProof proves that the tree of the first second records extends
// the tree of the first first records (RFC 9162 §2.1.4). Check it with
// [VerifyConsistency].
func (l *AuditLog) ConsistencyProof(first, second uint64) ([][32]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store.ConsistencyProof(first, second)
}

// VerifyInclusion checks an inclusion proof of the record with hash
// recordHash (hex, as in [Record.Hash]) at index in a tree of size with root.
func VerifyInclusion(index, size uint64, recordHash string, proof [][32]byte, root [32]byte) error {
	var leaf merkle.Hash
	if b, err := hex.DecodeString(recordHash); err != nil || len(b) != 32 {
		return errors.New("mcpguard: record hash is not 32 bytes of hex")
	} else {
		copy(leaf[:], b)
	}
	return merkle.VerifyInclusion(index, size, leaf, proof, root)
}

// VerifyConsistency checks that the tree (second, root2) extends the tree
// (first, root1).
func VerifyConsistency(first, second uint64, root1, root2 [32]byte, proof [][32]byte) error {
	return merkle.VerifyConsistency(first, second, root1, root2, proof)
}

// Close signs a final checkpoint (when a signer is set), flushes and closes
// the file. Later appends fail.
func (l *AuditLog) Close() error {
	// Refusing further appends and signing the final checkpoint happen
	// under one lock, so no record can land after the checkpoint that is
	// meant to cover the whole log.
	l.mu.Lock()
	wasClosed := l.closed
	l.closed = true
	var err error
	if l.signer != nil && l.store.Size() > 0 && !wasClosed {
		if _, cerr := l.store.Checkpoint(); cerr != nil {
			err = fmt.Errorf("%w: %w", ErrAuditSink, cerr)
		}
	}
	l.mu.Unlock()
	if l.store.File != nil {
		// Closing the file flushes and syncs everything queued, the
		// checkpoint included.
		if cerr := l.store.File.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// AuditFileReport is the outcome of [VerifyAuditFile].
type AuditFileReport struct {
	Records     uint64
	Checkpoints int
	Root        [32]byte
	// Latest is the last checkpoint in the file, if any.
	Latest *SignedCheckpoint
	// Problem, when not nil, is the first thing wrong: everything from
	// Problem.Index on cannot be trusted.
	Problem *ChainError
}

// VerifyAuditFile checks a log file: every record's hash, sequence number
// and link to its predecessor, every checkpoint's tree head and (with a
// verifier key) signature, and (with a published checkpoint) that the file
// still contains the tree that checkpoint signed — so truncation and
// rewriting after publication are caught too.
func VerifyAuditFile(path, verifierKey string, published *SignedCheckpoint) (*AuditFileReport, error) {
	var v *checkpoint.Verifier
	if verifierKey != "" {
		var err error
		if v, err = checkpoint.ParseVerifierKey(verifierKey); err != nil {
			return nil, err
		}
	}
	rep, err := auditfile.Verify(path, v, published != nil)
	if err != nil {
		return nil, err
	}
	out := &AuditFileReport{Records: rep.Records, Checkpoints: rep.Checkpoints, Root: rep.Root}
	if rep.Latest != nil {
		out.Latest = &SignedCheckpoint{Origin: rep.Latest.Origin, Size: rep.Latest.Size, Root: rep.Latest.Root, Note: rep.LatestNote}
	}
	if rep.Problem != nil {
		out.Problem = &ChainError{Index: int(rep.Problem.Index), Reason: rep.Problem.Reason}
		return out, nil
	}
	if published != nil {
		switch {
		case published.Size > rep.Records:
			out.Problem = &ChainError{Index: int(rep.Records),
				Reason: fmt.Sprintf("log has %d records but a published checkpoint covers %d: truncated", rep.Records, published.Size)}
		case merkle.Root(rep.Leaves[:published.Size]) != published.Root:
			out.Problem = &ChainError{Index: 0, Reason: "log does not contain the tree of the published checkpoint: rewritten"}
		}
	}
	return out, nil
}

// ReadAuditFile reads the records and checkpoints of a log file, without
// verifying them (see [VerifyAuditFile]). A torn last record is skipped.
func ReadAuditFile(path string) ([]Record, []SignedCheckpoint, error) {
	var recs []Record
	var cps []SignedCheckpoint
	_, err := auditfile.ReadLines(path, func(line []byte) error {
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("record %d: %w", len(recs), err)
		}
		recs = append(recs, r)
		return nil
	}, func(cp checkpoint.Checkpoint, note string) error {
		cps = append(cps, SignedCheckpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Root, Note: note})
		return nil
	})
	return recs, cps, err
}
