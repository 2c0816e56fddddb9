// Package mcpwalk visits every piece of text in an MCP result that a model
// can read — content blocks, embedded resources, resource links, structured
// content, read resources, prompt messages — and rebuilds the result with
// the visitor's replacements, copying only what changed.
package mcpwalk

import (
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/internal/jsonwalk"
)

// Kinds of text, as the visitor is told.
const (
	Text         = "text"
	Structured   = "structured"
	Resource     = "resource"
	ResourceLink = "resource_link"
	Prompt       = "prompt"
)

// MaxDepth bounds recursion into structured content.
const MaxDepth = 128

// Errors for results that cannot be walked; callers must not pass such a
// result on unread.
var (
	ErrUnknownContent = errors.New("mcpwalk: content type cannot be inspected")
	ErrNotJSON        = errors.New("mcpwalk: structured content is not JSON")
)

// Visitor sees each text and each binary block.
type Visitor interface {
	// Text returns the replacement of s (s itself to keep it).
	Text(kind, where, s string) (string, error)
	// Binary is told of content it cannot read.
	Binary(where string)
}

// ToolResult walks a tools/call result. The result is returned as it is
// when nothing changed.
func ToolResult(v Visitor, res *mcp.CallToolResult) (*mcp.CallToolResult, error) {
	content, changedC, err := contents(v, "content", res.Content, Text)
	if err != nil {
		return nil, err
	}
	structured, changedS, err := structuredContent(v, res.StructuredContent)
	if err != nil {
		return nil, err
	}
	if !changedC && !changedS {
		return res, nil
	}
	out := *res
	out.Content, out.StructuredContent = content, structured
	return &out, nil
}

// ReadResult walks a resources/read result.
func ReadResult(v Visitor, res *mcp.ReadResourceResult) (*mcp.ReadResourceResult, error) {
	contents := make([]*mcp.ResourceContents, len(res.Contents))
	changed := false
	for i, rc := range res.Contents {
		rc2, err := resource(v, fmt.Sprintf("contents[%d]", i), rc)
		if err != nil {
			return nil, err
		}
		contents[i], changed = rc2, changed || rc2 != rc
	}
	if !changed {
		return res, nil
	}
	out := *res
	out.Contents = contents
	return &out, nil
}

// PromptResult walks a prompts/get result.
func PromptResult(v Visitor, res *mcp.GetPromptResult) (*mcp.GetPromptResult, error) {
	desc, err := v.Text(Prompt, "description", res.Description)
	if err != nil {
		return nil, err
	}
	changed := desc != res.Description
	msgs := make([]*mcp.PromptMessage, len(res.Messages))
	for i, m := range res.Messages {
		if m == nil {
			continue
		}
		c, err := content(v, fmt.Sprintf("messages[%d]", i), m.Content, Prompt)
		if err != nil {
			return nil, err
		}
		msgs[i] = m
		if c != m.Content {
			msgs[i], changed = &mcp.PromptMessage{Role: m.Role, Content: c}, true
		}
	}
	if !changed {
		return res, nil
	}
	out := *res
	out.Description, out.Messages = desc, msgs
	return &out, nil
}

func contents(v Visitor, where string, cs []mcp.Content, kind string) ([]mcp.Content, bool, error) {
	out := make([]mcp.Content, len(cs))
	changed := false
	for i, c := range cs {
		c2, err := content(v, fmt.Sprintf("%s[%d]", where, i), c, kind)
		if err != nil {
			return nil, false, err
		}
		out[i], changed = c2, changed || c2 != c
	}
	return out, changed, nil
}

// content walks one block and returns it, or a changed copy.
func content(v Visitor, where string, c mcp.Content, kind string) (mcp.Content, error) {
	switch t := c.(type) {
	case *mcp.TextContent:
		s, err := v.Text(kind, where, t.Text)
		if err != nil || s == t.Text {
			return c, err
		}
		return &mcp.TextContent{Text: s, Meta: t.Meta, Annotations: t.Annotations}, nil
	case *mcp.EmbeddedResource:
		rc, err := resource(v, where+".resource", t.Resource)
		if err != nil || rc == t.Resource {
			return c, err
		}
		return &mcp.EmbeddedResource{Resource: rc, Meta: t.Meta, Annotations: t.Annotations}, nil
	case *mcp.ResourceLink:
		uri, err := v.Text(ResourceLink, where+".uri", t.URI)
		if err != nil {
			return c, err
		}
		desc, err := v.Text(ResourceLink, where+".description", t.Description)
		if err != nil || (uri == t.URI && desc == t.Description) {
			return c, err
		}
		l := *t
		l.URI, l.Description = uri, desc
		return &l, nil
	case *mcp.ImageContent, *mcp.AudioContent:
		v.Binary(where)
		return c, nil
	case nil:
		return c, nil
	}
	return c, fmt.Errorf("%w: %T at %s", ErrUnknownContent, c, where)
}

func resource(v Visitor, where string, rc *mcp.ResourceContents) (*mcp.ResourceContents, error) {
	if rc == nil {
		return rc, nil
	}
	if len(rc.Blob) > 0 {
		v.Binary(where)
	}
	uri, err := v.Text(ResourceLink, where+".uri", rc.URI)
	if err != nil {
		return rc, err
	}
	text, err := v.Text(Resource, where+".text", rc.Text)
	if err != nil || (text == rc.Text && uri == rc.URI) {
		return rc, err
	}
	out := *rc
	out.URI, out.Text = uri, text
	return &out, nil
}

// structuredContent walks every string of structured content; values that
// are not plain JSON (a handler's struct) go through their JSON form.
func structuredContent(v Visitor, sc any) (any, bool, error) {
	if sc == nil {
		return nil, false, nil
	}
	generic, err := jsonwalk.Generic(sc)
	if err != nil {
		return sc, false, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	out, changed, err := jsonwalk.Strings(generic, "structuredContent", MaxDepth,
		func(where, s string) (string, error) { return v.Text(Structured, where, s) })
	if err != nil || !changed {
		return sc, false, err
	}
	return out, true, nil
}
