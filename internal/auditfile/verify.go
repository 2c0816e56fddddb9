package auditfile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mcpguard/mcpguard/internal/checkpoint"
	"github.com/mcpguard/mcpguard/internal/merkle"
)

// CheckpointPrefix starts every checkpoint line.
var CheckpointPrefix = []byte(`{"checkpoint":`)

var (
	seqPrefix  = []byte(`{"seq":`)
	hashMarker = []byte(`,"hash":"`)
	prevMarker = []byte(`"prev":"`)
)

// RecordFields are what verification reads from a record line without
// decoding it.
type RecordFields struct {
	Seq        uint64
	Prev, Hash string
	Leaf       merkle.Hash // recomputed from the bytes
}

// SealLine turns the JSON encoding of a record whose last member is an
// empty "hash" into its stored line: the hash is SHA-256(0x00 || encoding),
// the RFC 6962 leaf hash, spliced in as hex.
func SealLine(encoded []byte) (line []byte, leaf merkle.Hash, err error) {
	if !bytes.HasSuffix(encoded, []byte(`,"hash":""}`)) {
		return nil, leaf, fmt.Errorf("auditfile: record encoding does not end with an empty hash")
	}
	leaf = merkle.LeafHash(encoded)
	line = make([]byte, 0, len(encoded)+64)
	line = append(line, encoded[:len(encoded)-2]...)
	line = hex.AppendEncode(line, leaf[:])
	line = append(line, '"', '}')
	return line, leaf, nil
}

// ParseRecordLine checks a stored record line's framing and hash.
func ParseRecordLine(line []byte) (RecordFields, error) {
	var f RecordFields
	if !bytes.HasPrefix(line, seqPrefix) {
		return f, fmt.Errorf("not a record line")
	}
	rest := line[len(seqPrefix):]
	end := bytes.IndexByte(rest, ',')
	if end <= 0 {
		return f, fmt.Errorf("malformed sequence number")
	}
	seq, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	if err != nil {
		return f, fmt.Errorf("malformed sequence number")
	}
	f.Seq = seq
	hi := bytes.LastIndex(line, hashMarker)
	if hi < 0 || !bytes.HasSuffix(line, []byte(`"}`)) || len(line)-2-(hi+len(hashMarker)) != 64 {
		return f, fmt.Errorf("malformed hash")
	}
	f.Hash = string(line[hi+len(hashMarker) : len(line)-2])
	before := line[:hi]
	pi := bytes.LastIndex(before, prevMarker)
	if pi < 0 || !bytes.HasSuffix(before, []byte{'"'}) || pi+len(prevMarker) > len(before)-1 {
		return f, fmt.Errorf("malformed previous hash")
	}
	f.Prev = string(before[pi+len(prevMarker) : len(before)-1])
	f.Leaf = merkle.LeafHash(blankHash(line))
	if hex.EncodeToString(f.Leaf[:]) != f.Hash {
		return f, fmt.Errorf("record hash mismatch")
	}
	return f, nil
}

// CheckpointLine encodes a signed checkpoint note as a line.
func CheckpointLine(note string) []byte {
	b, _ := json.Marshal(struct {
		Checkpoint string `json:"checkpoint"`
	}{note})
	return b
}

// ParseCheckpointLine decodes a checkpoint line's note.
func ParseCheckpointLine(line []byte) (string, error) {
	var c struct {
		Checkpoint string `json:"checkpoint"`
	}
	if err := json.Unmarshal(line, &c); err != nil || c.Checkpoint == "" {
		return "", fmt.Errorf("malformed checkpoint line")
	}
	return c.Checkpoint, nil
}

// Problem is the first thing wrong with a log.
type Problem struct {
	// Index is the record index where the log stops being trustworthy.
	Index  uint64
	Reason string
}

// Report is the outcome of verifying a log.
type Report struct {
	Records     uint64
	Checkpoints int
	Root        merkle.Hash
	Leaves      []merkle.Hash
	Latest      *checkpoint.Checkpoint // the last verified checkpoint
	LatestNote  string
	Torn        bool
	Problem     *Problem
	// With keep: the Merkle range over the verified records and every
	// checkpoint in order. Size is the length of the file's complete part.
	Tree         merkle.Range
	Checkpointed []SignedCheckpoint
	Size         int64
}

// SignedCheckpoint is a checkpoint with the signed note it came from.
type SignedCheckpoint struct {
	checkpoint.Checkpoint
	Note string
}

// Verify walks the log at path: every record's hash, sequence and link to
// its predecessor, and every checkpoint's signature and tree head. With a
// nil verifier, checkpoints are only checked for their tree head. keep
// says whether to keep the leaf hashes, the tree and the notes (for proofs
// and for reopening the log).
func Verify(path string, v *checkpoint.Verifier, keep bool) (*Report, error) {
	return VerifyEach(path, v, keep, nil)
}

// VerifyEach is Verify that also hands each verified record line to each
// (when not nil), so that a caller reopening the log reads it once. The
// line is only valid during the call.
func VerifyEach(path string, v *checkpoint.Verifier, keep bool, each func(line []byte)) (*Report, error) {
	rep := &Report{}
	var rng merkle.Range
	prev := ""
	fail := func(reason string, args ...any) error {
		rep.Problem = &Problem{Index: rep.Records, Reason: fmt.Sprintf(reason, args...)}
		return errStop
	}
	complete, torn, err := Scan(path, func(line []byte) error {
		if bytes.HasPrefix(line, CheckpointPrefix) {
			note, err := ParseCheckpointLine(line)
			if err != nil {
				return fail("%v", err)
			}
			if v != nil {
				if _, err = v.Open(note); err != nil {
					return fail("checkpoint after record %d: %v", rep.Records, err)
				}
			}
			cp, err := ParseNoteUnverified(note)
			if err != nil {
				return fail("checkpoint after record %d: %v", rep.Records, err)
			}
			if cp.Size != rep.Records || cp.Root != rng.Root() {
				return fail("checkpoint for size %d does not match the %d records before it", cp.Size, rep.Records)
			}
			rep.Checkpoints++
			rep.Latest, rep.LatestNote = &cp, note
			if keep {
				rep.Checkpointed = append(rep.Checkpointed, SignedCheckpoint{Checkpoint: cp, Note: note})
			}
			return nil
		}
		f, err := ParseRecordLine(line)
		if err != nil {
			return fail("%v", err)
		}
		if f.Seq != rep.Records {
			return fail("sequence %d out of place", f.Seq)
		}
		if f.Prev != prev {
			return fail("previous-hash link broken")
		}
		prev = f.Hash
		rng.Append(f.Leaf)
		if keep {
			rep.Leaves = append(rep.Leaves, f.Leaf)
		}
		if each != nil {
			each(line)
		}
		rep.Records++
		return nil
	})
	rep.Root, rep.Torn, rep.Size = rng.Root(), torn, complete
	if keep {
		rep.Tree = rng
	}
	if err == errStop {
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	if torn && rep.Problem == nil {
		rep.Problem = &Problem{Index: rep.Records, Reason: "torn record at the end (incomplete write)"}
	}
	return rep, nil
}

type stop struct{}

func (stop) Error() string { return "stop" }

var errStop error = stop{}

// ReadLines scans the log at path and hands each record line and each
// checkpoint, parsed but not verified, to the callbacks.
func ReadLines(path string, onRecord func(line []byte) error, onCheckpoint func(cp checkpoint.Checkpoint, note string) error) (int64, error) {
	n, _, err := Scan(path, func(line []byte) error {
		if bytes.HasPrefix(line, CheckpointPrefix) {
			note, err := ParseCheckpointLine(line)
			if err != nil {
				return err
			}
			cp, err := ParseNoteUnverified(note)
			if err != nil {
				return err
			}
			return onCheckpoint(cp, note)
		}
		return onRecord(line)
	})
	return n, err
}

// blankHash returns a record line with its hash value emptied: the bytes the
// record hash covers.
func blankHash(line []byte) []byte {
	hi := bytes.LastIndex(line, hashMarker)
	if hi < 0 {
		return line
	}
	out := make([]byte, 0, hi+len(hashMarker)+2)
	out = append(out, line[:hi+len(hashMarker)]...)
	return append(out, '"', '}')
}

// ParseNoteUnverified reads the checkpoint of a signed note without checking
// its signature.
func ParseNoteUnverified(note string) (checkpoint.Checkpoint, error) {
	text := note
	if i := bytes.LastIndex([]byte(note), []byte("\n\n")); i >= 0 {
		text = note[:i+1]
	}
	return checkpoint.Parse(text)
}
