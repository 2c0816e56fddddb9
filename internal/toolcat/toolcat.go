// Package toolcat holds tool definitions as a catalog pins them: their
// canonical digest and a classification of what changed between a pinned
// and an offered definition.
package toolcat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/mcpguard/mcpguard/internal/canonjson"
)

// Def is a tool definition: the parts a model reads or a client relies on.
type Def struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
}

// Digest is "sha256:" and the hex SHA-256 of the RFC 8785 canonical JSON of
// the definition.
func (d *Def) Digest() (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	c, err := canonjson.Transform(b)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Change classes, from harmless to dangerous.
const (
	Rewording        = "rewording"         // title or description text, no new instructions
	Instruction      = "instruction"       // new imperative or cross-tool instructions in a description
	NewParameter     = "new-parameter"     // a parameter was added
	RemovedParameter = "removed-parameter" // a parameter was removed
	ChangedParameter = "changed-parameter" // a parameter's type or constraints changed (widened or narrowed)
	RequiredChanged  = "required-changed"  // the set of required parameters changed
	Annotations      = "annotations"       // behaviour hints such as destructiveHint changed
	OutputSchema     = "output-schema"     // the output schema changed
	OtherSchema      = "other-schema"      // another part of the input schema changed
)

// instructionMarkers are phrases that turn a description into orders for
// the model.
var instructionMarkers = regexp.MustCompile(`(?i)\b(ignore|disregard|instead|always|never|must|do not|don't|before (using|calling|you)|after (using|calling)|you (should|must|are)|important|system prompt|secret|password|credential|api[ _-]?key|token|send (it|them|the)|forward|upload|exfiltrat\w*|do not tell|without telling)\b|<\s*/?\s*(important|system|instructions?)\s*>`)

func markers(s string) int { return len(instructionMarkers.FindAllStringIndex(s, -1)) }

// Classify lists what changed from pinned to offered. otherTools are the
// names of the host's other tools: naming one in a description is a
// cross-tool instruction.
func Classify(pinned, offered *Def, otherTools []string) []string {
	set := map[string]bool{}
	text := func(old, new string) {
		if old == new {
			return
		}
		if markers(new) > markers(old) || mentionsOther(new, old, otherTools) {
			set[Instruction] = true
		} else {
			set[Rewording] = true
		}
	}
	text(pinned.Title, offered.Title)
	text(pinned.Description, offered.Description)
	if !jsonEqual(pinned.Annotations, offered.Annotations) {
		set[Annotations] = true
	}
	if !jsonEqual(pinned.OutputSchema, offered.OutputSchema) {
		set[OutputSchema] = true
	}
	classifySchema(pinned.InputSchema, offered.InputSchema, set, text)
	return slices.Sorted(maps.Keys(set))
}

func mentionsOther(new, old string, others []string) bool {
	for _, t := range others {
		if t != "" && strings.Contains(new, t) && !strings.Contains(old, t) {
			return true
		}
	}
	return false
}

func classifySchema(oldRaw, newRaw json.RawMessage, set map[string]bool, text func(old, new string)) {
	if jsonEqual(oldRaw, newRaw) {
		return
	}
	var o, n map[string]any
	if json.Unmarshal(orEmpty(oldRaw), &o) != nil || json.Unmarshal(orEmpty(newRaw), &n) != nil {
		set[OtherSchema] = true
		return
	}
	op, _ := o["properties"].(map[string]any)
	np, _ := n["properties"].(map[string]any)
	for k, nv := range np {
		ov, ok := op[k]
		if !ok {
			set[NewParameter] = true
			continue
		}
		om, _ := ov.(map[string]any)
		nm, _ := nv.(map[string]any)
		od, _ := om["description"].(string)
		nd, _ := nm["description"].(string)
		text(od, nd)
		if !equalWithout(om, nm, "description", "title") {
			set[ChangedParameter] = true
		}
	}
	for k := range op {
		if _, ok := np[k]; !ok {
			set[RemovedParameter] = true
		}
	}
	if !anyEqual(o["required"], n["required"]) {
		set[RequiredChanged] = true
	}
	if !equalWithout(o, n, "properties", "required", "description", "title") {
		set[OtherSchema] = true
	}
}

func orEmpty(b json.RawMessage) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("{}")
	}
	return b
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b))
	}
	ca, err1 := canonjson.Transform(a)
	cb, err2 := canonjson.Transform(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

func anyEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return jsonEqual(ja, jb)
}

func equalWithout(a, b map[string]any, drop ...string) bool {
	ac, bc := maps.Clone(a), maps.Clone(b)
	for _, k := range drop {
		delete(ac, k)
		delete(bc, k)
	}
	return anyEqual(ac, bc)
}

// Describe is a short account of a change for refusals and audit records.
func Describe(name, oldDigest, newDigest string, classes []string) string {
	return fmt.Sprintf("tool %q changed (%s): %s → %s", name, strings.Join(classes, ", "), short(oldDigest), short(newDigest))
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
