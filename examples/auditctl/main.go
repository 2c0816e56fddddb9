// Command auditctl lets a reviewer check and search an mcpguard audit log
// file.
//
//	auditctl verify FILE [--key VERIFIER_KEY] [--checkpoint NOTE_FILE] [--json]
//	auditctl trace  FILE REQUEST_ID [--json]
//	auditctl query  FILE [--user U] [--tool T] [--session S] [--kind K] [--json]
//	auditctl prove  FILE INDEX [--key VERIFIER_KEY] [--json]
//
// verify checks every record's hash, sequence and chain link and every
// checkpoint (its signature with --key); given a previously published
// checkpoint it also proves the file still contains that tree (no
// truncation, no rewrite). On tampering it prints the first bad record and
// exits 1. prove prints an inclusion proof of one record against the latest
// checkpoint and checks it.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mcpguard/mcpguard"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  auditctl verify FILE [--key VERIFIER_KEY] [--checkpoint NOTE_FILE] [--json]
  auditctl trace  FILE REQUEST_ID [--json]
  auditctl query  FILE [--user U] [--tool T] [--session S] [--kind K] [--json]
  auditctl prove  FILE INDEX [--key VERIFIER_KEY] [--json]
`

// run executes one command; it returns the exit status: 0 ok, 1 the log
// failed verification, 2 usage or I/O error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, file := args[0], args[1]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON for machines")
	key := fs.String("key", "", "checkpoint verifier key (origin+hash+key)")
	cpFile := fs.String("checkpoint", "", "a published checkpoint note the log must contain")
	user := fs.String("user", "", "only records of this user")
	tool := fs.String("tool", "", "only records of this tool")
	session := fs.String("session", "", "only records of this session")
	kind := fs.String("kind", "", "only records of this kind")
	var positional []string
	rest := args[2:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		rest = fs.Args()
		if len(rest) > 0 {
			positional = append(positional, rest[0])
			rest = rest[1:]
		}
	}
	out := printer{w: stdout, json: *asJSON}
	var err error
	status := 0
	switch cmd {
	case "verify":
		status, err = verify(out, file, *key, *cpFile)
	case "trace":
		if len(positional) != 1 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		err = trace(out, file, positional[0])
	case "query":
		err = query(out, file, mcpguard.AuditQuery{User: *user, Tool: *tool, Session: *session, Kind: mcpguard.RecordKind(*kind)})
	case "prove":
		if len(positional) != 1 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		status, err = prove(out, file, positional[0], *key)
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "auditctl:", err)
		return 2
	}
	return status
}

type printer struct {
	w    io.Writer
	json bool
}

func (p printer) emit(v any, human func(io.Writer)) {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return
	}
	human(p.w)
}

func verify(out printer, file, key, cpFile string) (int, error) {
	var published *mcpguard.SignedCheckpoint
	if cpFile != "" {
		if key == "" {
			return 2, errors.New("--checkpoint needs --key to check the published checkpoint's signature")
		}
		note, err := os.ReadFile(cpFile)
		if err != nil {
			return 2, err
		}
		if published, err = mcpguard.OpenCheckpoint(string(note), key); err != nil {
			return 1, fmt.Errorf("published checkpoint: %w", err)
		}
	}
	rep, err := mcpguard.VerifyAuditFile(file, key, published)
	if err != nil {
		return 2, err
	}
	type result struct {
		OK          bool   `json:"ok"`
		Records     uint64 `json:"records"`
		Checkpoints int    `json:"checkpoints"`
		Signatures  bool   `json:"signaturesChecked"`
		Root        string `json:"root"`
		BadIndex    *int   `json:"firstBadIndex,omitempty"`
		Reason      string `json:"reason,omitempty"`
	}
	res := result{OK: rep.Problem == nil, Records: rep.Records, Checkpoints: rep.Checkpoints, Signatures: key != "",
		Root: base64.StdEncoding.EncodeToString(rep.Root[:])}
	if rep.Problem != nil {
		res.BadIndex, res.Reason = &rep.Problem.Index, rep.Problem.Reason
	}
	out.emit(res, func(w io.Writer) {
		if rep.Problem != nil {
			fmt.Fprintf(w, "FAIL: %s\nfirst bad record: %d (%s)\nrecords before it verified: %d\n", file, rep.Problem.Index, rep.Problem.Reason, rep.Problem.Index)
			return
		}
		sig := "tree heads only (no --key)"
		if key != "" {
			sig = "signatures and tree heads"
		}
		fmt.Fprintf(w, "OK: %s\nrecords: %d, chain intact\ncheckpoints: %d, %s verified\nroot: %s\n", file, rep.Records, rep.Checkpoints, sig, res.Root)
		if published != nil {
			fmt.Fprintf(w, "contains the published checkpoint of size %d\n", published.Size)
		}
	})
	if rep.Problem != nil {
		return 1, nil
	}
	return 0, nil
}

func load(file string) ([]mcpguard.Record, error) {
	recs, _, err := mcpguard.ReadAuditFile(file)
	return recs, err
}

func trace(out printer, file, requestID string) error {
	recs, err := load(file)
	if err != nil {
		return err
	}
	chain := mcpguard.TraceRecords(recs, requestID)
	if len(chain) == 0 {
		return fmt.Errorf("no records for request %s", requestID)
	}
	out.emit(chain, func(w io.Writer) {
		fmt.Fprintf(w, "trace of request %s: user %q\n", requestID, chain[len(chain)-1].User)
		for _, r := range chain {
			fmt.Fprintln(w, "  "+describe(&r))
		}
	})
	return nil
}

func query(out printer, file string, q mcpguard.AuditQuery) error {
	recs, err := load(file)
	if err != nil {
		return err
	}
	var found []mcpguard.Record
	for _, r := range recs {
		if (q.User == "" || r.User == q.User) && (q.Tool == "" || r.Tool == q.Tool) &&
			(q.Session == "" || r.Session == q.Session) && (q.Kind == "" || r.Kind == q.Kind) {
			found = append(found, r)
		}
	}
	out.emit(found, func(w io.Writer) {
		for _, r := range found {
			fmt.Fprintln(w, describe(&r))
		}
		fmt.Fprintf(w, "%d records\n", len(found))
	})
	return nil
}

func prove(out printer, file, index, key string) (int, error) {
	i, err := strconv.ParseUint(index, 10, 64)
	if err != nil {
		return 2, fmt.Errorf("index %q is not a number", index)
	}
	log, err := mcpguard.LoadAuditLog(file)
	if err != nil {
		return 1, err
	}
	cps := log.Checkpoints()
	if len(cps) == 0 {
		return 2, errors.New("the log has no checkpoint to prove against")
	}
	cp := cps[len(cps)-1]
	if key != "" {
		if _, err := mcpguard.OpenCheckpoint(cp.Note, key); err != nil {
			return 1, fmt.Errorf("latest checkpoint: %w", err)
		}
	}
	if i >= cp.Size {
		return 2, fmt.Errorf("record %d is not covered by the latest checkpoint (size %d)", i, cp.Size)
	}
	rec := log.Records()[i]
	proof, err := log.InclusionProof(i, cp.Size)
	if err != nil {
		return 2, err
	}
	verr := mcpguard.VerifyInclusion(i, cp.Size, rec.Hash, proof, cp.Root)
	hashes := make([]string, len(proof))
	for j, h := range proof {
		hashes[j] = base64.StdEncoding.EncodeToString(h[:])
	}
	res := map[string]any{"index": i, "recordHash": rec.Hash, "treeSize": cp.Size,
		"root": base64.StdEncoding.EncodeToString(cp.Root[:]), "proof": hashes, "verified": verr == nil, "checkpoint": cp.Note}
	out.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "record %d (%s)\nin tree of size %d, root %s\n", i, describe(&rec), cp.Size, res["root"])
		for j, h := range hashes {
			fmt.Fprintf(w, "  proof[%d] %s\n", j, h)
		}
		if verr == nil {
			fmt.Fprintln(w, "inclusion proof verified")
		} else {
			fmt.Fprintln(w, "inclusion proof FAILED:", verr)
		}
		fmt.Fprintf(w, "checkpoint:\n%s", indent(cp.Note))
	})
	if verr != nil {
		return 1, nil
	}
	return 0, nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

func describe(r *mcpguard.Record) string {
	s := fmt.Sprintf("#%d %s %s %s/%s %s", r.Seq, r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Outcome, r.Side, r.Kind, r.Tool)
	for _, kv := range [][2]string{{"user", r.User}, {"session", r.Session}, {"req", r.RequestID}, {"token", r.TokenID},
		{"from", r.SubjectTokenID}, {"args", r.ArgsHash}, {"reason", r.Reason}} {
		if kv[1] != "" {
			s += " " + kv[0] + "=" + kv[1]
		}
	}
	if r.Conn != nil {
		s += fmt.Sprintf(" client=%q server=%q remote=%s", r.Conn.ClientSubject, r.Conn.ServerSubject, r.Conn.RemoteAddr)
	}
	for _, f := range r.Findings {
		s += fmt.Sprintf(" finding=%s/%s→%s", f.Kind, f.Rule, f.Action)
	}
	return s
}
